"""The service's own operations, declared once (see orchestrator.operations): health, system
status, metrics, and the agents in numbers."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from monitoring.selectors import (
    CHECKS,
    agents_idle,
    agents_performance,
    hosts_overview,
    system_health,
    system_metrics,
    system_status,
)
from orchestrator.operations import Result, operation, page
from orchestrator.serializers import PageQuerySerializer, StrictBooleanField, StrictCharField, StrictSerializer


class HealthQuerySerializer(StrictSerializer):
    include_diagnostics = StrictBooleanField(required=False, default=False,
                                             help_text="Add heartbeats and agents by state.")
    checks = StrictCharField(
        required=False, max_length=200,
        help_text=f"Only these checks, comma-separated ({', '.join(CHECKS)}); e.g. `database,broker` for a web "
                  "server's own probe, which should not fail because an agent host is down.")

    def validate_checks(self, value: str) -> list[str]:
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = sorted(set(names) - set(CHECKS))
        if unknown or not names:
            named = ", ".join(unknown) if unknown else repr(value)
            raise serializers.ValidationError(f"unknown check {named}; known: {', '.join(CHECKS)}")
        return names


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
        "agent_hosts": serializers.DictField(
            child=inline_serializer("HostHealth", {
                "worker_alive": serializers.BooleanField(), "last_heartbeat": serializers.DateTimeField(allow_null=True),
                "agents": serializers.IntegerField(help_text="Its live agents.")}),
            help_text="Each agent host: whether its worker is alive, when it was last heard from, its live agents."),
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
    health = system_health(include_diagnostics=query["include_diagnostics"], checks=query.get("checks"))
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


HOST = ("AgentHost", {
    "host": serializers.CharField(),
    "worker_alive": serializers.BooleanField(help_text="Its worker said it was alive within the last three sweeps."),
    "last_heartbeat": serializers.DateTimeField(allow_null=True, help_text="Its worker's last sign of life."),
    "agents": serializers.IntegerField(help_text="Its live agents."),
    "agents_by_state": serializers.DictField(child=serializers.IntegerField()),
    "load": serializers.DictField(child=serializers.FloatField(allow_null=True),
                                  help_text="The machine's load averages (load_1m, load_5m, load_15m) and cpus."),
    "tmux_running": serializers.BooleanField(allow_null=True, help_text="Its tmux server was running at the last sweep."),
    "sweep_ms": serializers.FloatField(allow_null=True, help_text="How long its last sweep took."),
})


@operation("monitor_hosts", "GET", "/monitor/hosts", summary="Agent hosts", query=PageQuerySerializer,
           responses={200: inline_serializer(*HOST, many=True)})
def monitor_hosts(caller, query):
    """Each agent host: its worker alive or down, its last heartbeat, its agents by state, the
    machine's load. A host that is down keeps its agents: they wait for it, they are not moved."""
    return page(hosts_overview(), query)


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
