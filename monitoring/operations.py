"""The service's own operations, declared once (see orchestrator.operations): health, system
status, metrics, and the agents in numbers."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from monitoring.selectors import agents_idle, agents_performance, system_health, system_metrics, system_status
from orchestrator.operations import Result, operation, page
from orchestrator.serializers import PageQuerySerializer, StrictBooleanField, StrictSerializer


class HealthQuerySerializer(StrictSerializer):
    include_diagnostics = StrictBooleanField(required=False, default=False,
                                             help_text="Add heartbeats and agents by state.")


class StatusQuerySerializer(StrictSerializer):
    include_metrics = StrictBooleanField(required=False, default=False)
    include_agent_details = StrictBooleanField(required=False, default=False)


class IdleQuerySerializer(PageQuerySerializer):
    min_minutes = serializers.IntegerField(required=False, default=0, min_value=0, max_value=525600,
                                           help_text="Only agents idle at least this long.")


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
        "profile_versions": serializers.DictField(
            child=serializers.DictField(child=serializers.CharField()),
            help_text="Per host, the agent programs its worker found at another version than the one their "
                      "profile's screen markers were read from (profile: what was found), checked when the "
                      "worker starts; `tmux-orc profiles check` on the host says more."),
        "response_time_ms": serializers.FloatField(),
    },
)


IDLE_AGENT = ("IdleAgent", {
    "target": serializers.CharField(), "agent_type": serializers.CharField(),
    "idle_since": serializers.DateTimeField(), "idle_minutes": serializers.IntegerField(),
})
AGENT_PERFORMANCE = ("AgentPerformance", {
    "target": serializers.CharField(), "state": serializers.CharField(), "agent_type": serializers.CharField(),
    "health_score": serializers.IntegerField(), "uptime_minutes": serializers.IntegerField(),
    "restart_count": serializers.IntegerField(), "messages_delivered_24h": serializers.IntegerField(),
    "median_delivery_seconds": serializers.FloatField(allow_null=True),
})


@operation("monitor_health", "GET", "/monitor/health", summary="Health of the service", query=HealthQuerySerializer,
           public=True, responses={200: HealthSerializer, 503: HealthSerializer})
def monitor_health(caller, query):
    """Whether the database, broker, beat and each host's worker and tmux are working; 503
    naming what failed. Open to all, so load balancers and uptime checks need no token."""
    health = system_health(include_diagnostics=query["include_diagnostics"])
    if health["status"] == "healthy":
        return health
    failing = "; ".join(f"{name} {result}" for name, result in health["checks"].items() if result != "ok")
    return Result(health, 503, error=f"unhealthy: {failing}")


@operation("monitor_status", "GET", "/monitor/status", summary="System status", query=StatusQuerySerializer,
           responses={200: OpenApiTypes.OBJECT})
def monitor_status(caller, query):
    """Health checks, agents by state and host; with metrics (messages by status, numbers of
    the last 24 hours) and each agent's status on request."""
    return system_status(**query)


@operation("monitor_metrics", "GET", "/monitor/metrics", summary="Metrics (JSON)", responses={200: OpenApiTypes.OBJECT})
def monitor_metrics(caller, query):
    """Agents by state, messages by status, delivery latency, restarts, crashes, alerts, sweep times."""
    return system_metrics()


@operation("monitor_agents_performance", "GET", "/monitor/agents/performance", summary="Per-agent performance",
           query=PageQuerySerializer, responses={200: inline_serializer(*AGENT_PERFORMANCE, many=True)})
def monitor_agents_performance(caller, query):
    """Health, uptime, restarts and delivery of each live agent over the last 24 hours."""
    return page(agents_performance(), query)


@operation("monitor_agents_idle", "GET", "/monitor/agents/idle", summary="Idle agents", query=IdleQuerySerializer,
           responses={200: inline_serializer(*IDLE_AGENT, many=True)})
def monitor_agents_idle(caller, query):
    """Agents at their prompt with nothing to do, longest idle first."""
    return page(agents_idle(min_minutes=query["min_minutes"]), query)
