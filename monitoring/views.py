"""The live stream: not an operation, an open response that follows the agents."""

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from agents.selectors import agent_get
from monitoring.stream import stream_events, stream_start
from orchestrator.auth import BearerTokenAuthentication, StaffSessionAuthentication
from orchestrator.errors import InvalidInput
from orchestrator.permissions import Caller
from orchestrator.serializers import StrictBooleanField, StrictSerializer, validated


class StreamQuerySerializer(StrictSerializer):
    target = serializers.CharField(required=False, help_text="Only this agent (session:window).")
    output = StrictBooleanField(required=False, default=False,
                                help_text="With `target`: the agent's screen too, each time it changes.")


class StreamView(APIView):
    authentication_classes = [BearerTokenAuthentication, StaffSessionAuthentication]

    def perform_content_negotiation(self, request, force=False):
        """A browser's EventSource asks for `text/event-stream` only: errors still come as
        the JSON envelope, and the stream as events."""
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="monitor_stream", summary="Live stream of states, messages and a screen",
        parameters=[StreamQuerySerializer],
        responses={200: OpenApiResponse(description=(
            "`text/event-stream` (server-sent events), until the client closes it. Events: `state` (an "
            "agent's change of state: target, from_state, to_state, signal, reason, at), `message` (a "
            "message's status: id, target, kind, status, error, body_preview, received_exactly, at) and, "
            "with `output=true`, `screen` (target, screen: the pane's text). Each event's `id` is its time: "
            "a client that reconnects with `Last-Event-ID` gets what it missed."))},
    )
    def get(self, request):
        """Follow the agents as it happens; with `target`, one agent, and with `output`, its screen."""
        query = validated(StreamQuerySerializer, request.query_params)
        caller = Caller.of_request(request)
        agent = agent_get(target=query["target"]) if query.get("target") else None
        if query["output"]:
            if agent is None:
                raise InvalidInput("output: needs a target (one agent's screen at a time)")
            caller.require_self(agent, "follow the screen")
        follow = stream_start(agent=agent, screen=query["output"],
                              last_event_id=request.headers.get("Last-Event-ID", ""))
        response = StreamingHttpResponse(stream_events(follow), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx: pass events on as they come
        return response
