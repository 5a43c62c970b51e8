"""The coordination API: validate, call one service, render."""

import time

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from agents.roles import wait_timeout
from agents.views import operation_outcome
from orchestrator.serializers import validated
from teams import services
from teams.serializers import RecoverResultSerializer, RecoverSerializer


def _settled(operations) -> list:
    """The agents of `operations`, each once its operation is final or the shared wait is over."""
    deadline = time.monotonic() + max((wait_timeout(op.agent.agent_type) for op in operations), default=0)
    return [operation_outcome(op, timeout=max(0.0, deadline - time.monotonic())) for op in operations]


class CoordinationViewSet(viewsets.ViewSet):
    @extend_schema(
        operation_id="coordination_recover", summary="Restart the agents that are down",
        request=RecoverSerializer,
        responses={200: RecoverResultSerializer, 404: OpenApiResponse(description="No live agents in a session named.")},
    )
    @action(detail=False, methods=["post"])
    def recover(self, request):
        """Restart, briefed again, every crashed or failed agent (stuck ones too with
        `include_stuck`) of `session_names`, or of every session."""
        data = validated(RecoverSerializer, request.data)
        operations = services.agents_recover(session_names=data["session_names"], include_stuck=data["include_stuck"],
                                             requested_by=str(request.user))
        return Response(RecoverResultSerializer({"restarted": _settled(operations)}).data)
