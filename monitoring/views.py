from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.selectors import agent_get
from monitoring.selectors import agents_idle, agents_performance, system_health, system_metrics, system_status
from monitoring.stream import stream_events, stream_start
from orchestrator.api import ErrorBody, paged
from orchestrator.errors import InvalidInput
from orchestrator.permissions import Caller
from orchestrator.serializers import PageQuerySerializer, StrictBooleanField, StrictSerializer, validated


class HealthQuerySerializer(StrictSerializer):
    include_diagnostics = StrictBooleanField(required=False, default=False,
                                             help_text="Add heartbeats and agents by state.")

HealthSerializer = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(["healthy", "unhealthy"]),
        "checks": serializers.DictField(child=serializers.CharField()),
        "checks_performed": serializers.ListField(child=serializers.CharField()),
        "restarts": serializers.DictField(
            child=serializers.DictField(child=serializers.IntegerField()),
            help_text="Per host, how often `tmux-orc server start` restarted each of its processes "
                      "(web, worker, watcher, beat) since it started."),
        "response_time_ms": serializers.FloatField(),
    },
)


class HealthView(APIView):
    """Open to all, so load balancers and uptime checks need no token."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="monitor_health", summary="Health of the service",
        parameters=[HealthQuerySerializer], responses={200: HealthSerializer, 503: HealthSerializer}, auth=[],
    )
    def get(self, request):
        query = validated(HealthQuerySerializer, request.query_params)
        health = system_health(include_diagnostics=query["include_diagnostics"])
        if health["status"] == "healthy":
            return Response(health)
        failing = "; ".join(f"{name} {result}" for name, result in health["checks"].items() if result != "ok")
        return Response(ErrorBody(error_message=f"unhealthy: {failing}", data=health), status=503)


class StatusQuerySerializer(StrictSerializer):
    include_metrics = StrictBooleanField(required=False, default=False)
    include_agent_details = StrictBooleanField(required=False, default=False)


class IdleQuerySerializer(PageQuerySerializer):
    min_minutes = serializers.IntegerField(required=False, default=0, min_value=0, max_value=525600,
                                           help_text="Only agents idle at least this long.")


class MonitorViewSet(viewsets.ViewSet):
    """The service and its agents in numbers."""

    @extend_schema(operation_id="monitor_status", summary="System status",
                   parameters=[StatusQuerySerializer], responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get"])
    def status(self, request):
        """Health checks, agents by state and host; with metrics and each agent's status on request."""
        query = validated(StatusQuerySerializer, request.query_params)
        return Response(system_status(**query))

    @extend_schema(operation_id="monitor_metrics", summary="Metrics (JSON)", responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get"])
    def metrics(self, request):
        """Agents by state, messages by status, delivery latency, restarts, crashes, alerts, sweep times."""
        return Response(system_metrics())

    @extend_schema(operation_id="monitor_agents_performance", summary="Per-agent performance",
                   parameters=[PageQuerySerializer], responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get"], url_path="agents/performance")
    def agents_performance(self, request):
        """Health, uptime, restarts and delivery of each live agent over the last 24 hours."""
        return paged(request, agents_performance(), validated(PageQuerySerializer, request.query_params))

    @extend_schema(operation_id="monitor_agents_idle", summary="Idle agents",
                   parameters=[IdleQuerySerializer], responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get"], url_path="agents/idle")
    def agents_idle(self, request):
        """Agents at their prompt with nothing to do, longest idle first."""
        query = validated(IdleQuerySerializer, request.query_params)
        return paged(request, agents_idle(min_minutes=query["min_minutes"]), query)


class StreamQuerySerializer(StrictSerializer):
    target = serializers.CharField(required=False, help_text="Only this agent (session:window).")
    output = StrictBooleanField(required=False, default=False,
                                help_text="With `target`: the agent's screen too, each time it changes.")


class StreamView(APIView):
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
