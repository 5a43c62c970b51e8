"""The one agents endpoint that is not an operation: an agent program's hooks report in."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.hooks import agent_hook_report
from agents.serializers import HookResultSerializer
from orchestrator.errors import Forbidden
from orchestrator.permissions import Caller


class HookView(APIView):
    @extend_schema(
        operation_id="agents_hook", summary="An agent program's hook reports its own state",
        request={"application/json": {"type": "object", "description": "The hook's JSON as the program sends it "
                                      "(hook_event_name, prompt, notification_type, source, ...)."}},
        responses={200: HookResultSerializer, 403: OpenApiResponse(description="Not an agent's own token.")},
    )
    def post(self, request):
        """What agents/hook_report.py posts for each Claude Code hook, with the agent's own
        token: the program says it took a prompt (and which), finished its turn, or asks
        for permission. Only an agent's own token may speak for it."""
        caller = Caller.of_request(request)
        if caller.agent is None:
            raise Forbidden("hooks are reported with the agent's own token (TMUX_ORC_TOKEN in its pane)")
        return Response(HookResultSerializer(agent_hook_report(agent=caller.agent, payload=request.data)).data)
