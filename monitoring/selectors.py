"""Reads about the whole system: health checks and counts."""

from __future__ import annotations

import time

from datetime import timedelta

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from agents.hosts import stale_after, worker_alive
from agents.models import Agent, AgentEvent, AgentState, Host, Message, MessageStatus
from agents.selectors import agent_list, agent_status, hosts_with_live_agents
from monitoring.models import Alert, Heartbeat
from orchestrator.celery import app as celery_app


DAY = timedelta(hours=24)


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_broker() -> str:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def _check_beat() -> str:
    beat = Heartbeat.objects.filter(name="beat").first()
    if beat is None:
        return "failed: beat has not run yet"
    age = timezone.now() - beat.seen_at
    return "ok" if age <= stale_after() else f"failed: beat last ran {age.total_seconds():.0f} s ago"


def _check_workers() -> str:
    """Every host's worker swept lately, and found its tmux server."""
    workers = list(Heartbeat.objects.filter(name__startswith="worker:"))
    if not workers:
        return "failed: no worker has reported yet"
    problems = []
    for worker in workers:
        host, age = worker.name.split(":", 1)[1], timezone.now() - worker.seen_at
        if age > stale_after() and host in hosts_with_live_agents():
            problems.append(f"{host}: last sweep {age.total_seconds():.0f} s ago")
        elif not worker.details.get("tmux_running", True) and host in hosts_with_live_agents():
            problems.append(f"{host}: tmux server not running")
    return "ok" if not problems else "failed: " + "; ".join(problems)


CHECKS = {"database": _check_database, "broker": _check_broker, "beat": _check_beat, "workers": _check_workers}


def system_health(*, include_diagnostics: bool = False, checks: list[str] | None = None) -> dict:
    """Run each check (or only those named in `checks`); the system is healthy when every one
    run passes. With each agent host: its worker alive or not, its last heartbeat, its agents."""
    started = time.monotonic()
    results = {}
    for name, check in CHECKS.items():
        if checks and name not in checks:
            continue
        try:
            results[name] = check()
        except Exception as error:  # a failed check is a result, reported to the caller
            results[name] = f"failed: {error}"
    health = {
        "status": "healthy" if all(v == "ok" for v in results.values()) else "unhealthy",
        "checks": results,
        "checks_performed": list(results),
        "agent_hosts": {row["host"]: {"worker_alive": row["worker_alive"], "last_heartbeat": row["last_heartbeat"],
                                      "agents": row["agents"]} for row in hosts_overview()},
        "restarts": service_restarts(),
        "profile_versions": profile_versions(),
        "response_time_ms": round((time.monotonic() - started) * 1000, 1),
    }
    if include_diagnostics:
        health["diagnostics"] = {
            "heartbeats": {h.name: {"seen_at": h.seen_at, **h.details} for h in Heartbeat.objects.all()},
            "agents_by_state": agents_by_state(),
        }
    return health


def hosts_overview() -> list[dict]:
    """Every agent host: those whose worker reported in the last day, and those that hold live
    agents. Its worker alive or not, when last heard from, its live agents by state, the
    machine's load and the worker's last sweep."""
    hosts = {host.name: host for host in Host.objects.filter(worker_seen_at__gte=timezone.now() - DAY)}
    hosts.update({host.name: host for host in Host.objects.filter(name__in=hosts_with_live_agents())})
    by_state: dict[str, dict[str, int]] = {}
    for row in Agent.objects.exclude(state=AgentState.STOPPED).values("host", "state").annotate(n=Count("id")).order_by():
        by_state.setdefault(row["host"], {})[row["state"]] = row["n"]
    sweeps = {h.name.removeprefix("worker:"): h.details for h in Heartbeat.objects.filter(name__startswith="worker:")}
    rows = []
    for name in sorted(set(hosts) | set(by_state)):
        host, states, sweep = hosts.get(name), by_state.get(name, {}), sweeps.get(name, {})
        rows.append({
            "host": name,
            "worker_alive": host is not None and worker_alive(host),
            "last_heartbeat": host.worker_seen_at if host else None,
            "agents": sum(states.values()),
            "agents_by_state": {state: states.get(state, 0) for state in AgentState.values if state != AgentState.STOPPED},
            "load": host.load if host else {},
            "tmux_running": sweep.get("tmux_running"),
            "sweep_ms": sweep.get("sweep_ms"),
        })
    return rows


def profile_versions() -> dict[str, dict[str, str]]:
    """Per host, the agent programs its worker found at a version other than the one their
    profile's screen markers were read from (checked when the worker starts)."""
    found: dict[str, dict[str, str]] = {}
    for row in Heartbeat.objects.filter(name__startswith="profiles:"):
        host = row.name.removeprefix("profiles:")
        found[host] = {name: check.get("detail", "") for name, check in row.details.items()
                       if isinstance(check, dict) and check.get("status") == "different"}
    return {host: programs for host, programs in found.items() if programs}


def service_restarts() -> dict[str, dict[str, int]]:
    """Per host, how often its supervisor restarted each process since it started."""
    counts: dict[str, dict[str, int]] = {}
    for row in Heartbeat.objects.filter(name__startswith="service:"):
        host, _, process = row.name.removeprefix("service:").rpartition(":")
        counts.setdefault(host, {})[process] = row.details.get("restarts", 0)
    return counts


def agents_by_state() -> dict[str, int]:
    counts = dict(Agent.objects.values_list("state").annotate(n=Count("id")).order_by())
    return {state.value: counts.get(state.value, 0) for state in AgentState}


def messages_by_status() -> dict[str, int]:
    counts = dict(Message.objects.values_list("status").annotate(n=Count("id")).order_by())
    return {status.value: counts.get(status.value, 0) for status in MessageStatus}


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 3)


def delivery_latencies(*, since: timedelta = DAY, agent: Agent | None = None) -> list[float]:
    """Seconds from queued to delivered, for messages delivered within `since`."""
    rows = Message.objects.filter(status=MessageStatus.DELIVERED, delivered_at__gte=timezone.now() - since)
    if agent is not None:
        rows = rows.filter(agent=agent)
    return [(d - c).total_seconds() for c, d in rows.values_list("created_at", "delivered_at")[:10000]]


def system_metrics() -> dict:
    """Numbers for the last 24 hours, from the database (so every web process agrees)."""
    day_ago = timezone.now() - DAY
    latencies = delivery_latencies()
    sweeps = {h.name.split(":", 1)[1]: h.details.get("sweep_ms") for h in Heartbeat.objects.filter(name__startswith="worker:")}
    return {
        "agents_by_state": agents_by_state(),
        "messages_by_status": messages_by_status(),
        "delivery_seconds": {"count": len(latencies), "p50": _percentile(latencies, 0.5),
                             "p95": _percentile(latencies, 0.95), "max": max(latencies, default=None)},
        "restarts_24h": AgentEvent.objects.filter(from_state=AgentState.CRASHED, to_state=AgentState.STARTING,
                                                  created_at__gte=day_ago).count(),
        "crashes_24h": AgentEvent.objects.filter(to_state=AgentState.CRASHED, created_at__gte=day_ago).count(),
        "alerts_24h": Alert.objects.filter(created_at__gte=day_ago).count(),
        "last_sweep_ms": sweeps,
    }


def agents_performance() -> list[dict]:
    """Per live agent: health, uptime, restarts and message delivery of the last 24 hours."""
    rows = []
    for agent in agent_list():
        latencies = delivery_latencies(agent=agent)
        status = agent_status(agent=agent)
        rows.append({
            "target": agent.target, "state": agent.state, "agent_type": agent.agent_type,
            "health_score": status["health_score"], "uptime_minutes": status["uptime_minutes"],
            "restart_count": agent.restart_count, "messages_delivered_24h": len(latencies),
            "median_delivery_seconds": _percentile(latencies, 0.5),
        })
    return rows


def agents_idle(*, min_minutes: int = 0) -> list[dict]:
    """Idle agents, longest idle first."""
    cutoff = timezone.now() - timedelta(minutes=min_minutes)
    idle = agent_list().filter(state=AgentState.IDLE, state_changed_at__lte=cutoff).order_by("state_changed_at")
    return [{"target": a.target, "agent_type": a.agent_type, "idle_since": a.state_changed_at,
             "idle_minutes": int((timezone.now() - a.state_changed_at).total_seconds() // 60)} for a in idle]


def system_status(*, include_metrics: bool = False, include_agent_details: bool = False) -> dict:
    hosts = (
        Agent.objects.exclude(state=AgentState.STOPPED).values("host").annotate(agents=Count("id")).order_by("host")
    )
    health = system_health()
    status = {
        **health,
        "agents_by_state": agents_by_state(),
        "hosts": {row["host"]: row["agents"] for row in hosts},
        "hosts_down": [name for name, host in health["agent_hosts"].items() if host["agents"] and not host["worker_alive"]],
    }
    if include_metrics:
        status["metrics"] = system_metrics()
    if include_agent_details:
        status["agents"] = [agent_status(agent=agent) for agent in agent_list()]
    return status
