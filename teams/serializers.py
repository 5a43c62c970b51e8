from rest_framework import serializers

from agents.serializers import TMUX_NAME, OperationResultSerializer
from orchestrator.serializers import StrictBooleanField, StrictCharField, StrictSerializer


class RecoverSerializer(StrictSerializer):
    session_names = serializers.ListField(
        child=StrictCharField(max_length=64, validators=[TMUX_NAME]), required=False, default=list,
        help_text="Only agents of these sessions; empty: every session.",
    )
    include_stuck = StrictBooleanField(required=False, default=False,
                                       help_text="Also restart agents flagged stuck.")


class RecoverResultSerializer(serializers.Serializer):
    restarted = OperationResultSerializer(many=True, help_text="Each agent restarted, with how far its restart got.")
