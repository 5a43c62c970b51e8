from rest_framework import serializers

from agents.models import Agent, AgentOperation
from agents.validation import MAX_BRIEFING, MAX_PATH
from orchestrator.serializers import StrictBooleanField, StrictCharField, StrictSerializer


class SpawnSerializer(StrictSerializer):
    session_name = StrictCharField(max_length=64, help_text="tmux session; created if missing.")
    agent_type = StrictCharField(max_length=40, help_text="orchestrator, pm, developer, qa, devops, reviewer or a custom type.")
    project_path = StrictCharField(max_length=MAX_PATH, help_text="Absolute path of an existing directory.")
    briefing_message = StrictCharField(
        max_length=MAX_BRIEFING, required=False, allow_blank=True, default="",
        help_text="The agent's briefing; the type's default briefing when empty.",
    )
    profile = StrictCharField(
        max_length=40, required=False,
        help_text="Agent program: claude, codex, aider, gemini, shell or one from config. Default from config.",
    )
    name = StrictCharField(max_length=64, required=False, help_text="Window name; default <Profile>-<agent_type>.")


class TargetSerializer(StrictSerializer):
    target = StrictCharField(max_length=129, help_text="session:window")


class StatusQuerySerializer(TargetSerializer):
    include_activity = StrictBooleanField(required=False, default=False)


class ListQuerySerializer(StrictSerializer):
    session_name = StrictCharField(max_length=64, required=False)
    include_stopped = StrictBooleanField(required=False, default=False)


class AgentSerializer(serializers.ModelSerializer):
    session = serializers.CharField(source="session_name")
    window = serializers.CharField(source="name")
    team = serializers.StringRelatedField()

    class Meta:
        model = Agent
        fields = [
            "id", "target", "session", "window", "agent_type", "profile", "team", "project_path", "host",
            "state", "state_reason", "state_changed_at", "tmux_session_id", "tmux_window_id", "tmux_pane_id",
            "pane_pid", "restart_count", "created_at", "started_at", "stopped_at", "last_activity_at",
        ]


class OperationSerializer(serializers.ModelSerializer):
    class Meta:
        model = AgentOperation
        fields = ["id", "kind", "status", "error", "created_at", "started_at", "finished_at"]


class OperationResultSerializer(AgentSerializer):
    operation = OperationSerializer(source="last_operation")
    detail = serializers.CharField(help_text="What happened, in words.")

    class Meta(AgentSerializer.Meta):
        fields = AgentSerializer.Meta.fields + ["operation", "detail"]


class AgentStatusSerializer(serializers.Serializer):
    target = serializers.CharField()
    state = serializers.CharField()
    state_reason = serializers.CharField()
    state_changed_at = serializers.DateTimeField()
    responsive = serializers.BooleanField()
    last_activity = serializers.DateTimeField(allow_null=True)
    uptime_minutes = serializers.IntegerField()
    restart_count = serializers.IntegerField()
    health_score = serializers.IntegerField(help_text="0-100, from the state: see the README.")
    activity_summary = serializers.ListField(child=serializers.CharField(), required=False)
