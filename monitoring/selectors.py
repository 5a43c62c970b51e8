"""Reads about the whole system: health checks and counts."""

from __future__ import annotations

import time

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from agents.models import Agent, AgentState
from agents.selectors import hosts_with_live_agents
from monitoring.models import Heartbeat
from orchestrator.celery import app as celery_app


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_broker() -> str:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def _stale_after() -> timedelta:
    return timedelta(seconds=3 * settings.TMUX_ORC.health_check_interval + 10)


def _check_beat() -> str:
    beat = Heartbeat.objects.filter(name="beat").first()
    if beat is None:
        return "failed: beat has not run yet"
    age = timezone.now() - beat.seen_at
    return "ok" if age <= _stale_after() else f"failed: beat last ran {age.total_seconds():.0f} s ago"


def _check_workers() -> str:
    """Every host's worker swept lately, and found its tmux server."""
    workers = list(Heartbeat.objects.filter(name__startswith="worker:"))
    if not workers:
        return "failed: no worker has reported yet"
    problems = []
    for worker in workers:
        host, age = worker.name.split(":", 1)[1], timezone.now() - worker.seen_at
        if age > _stale_after() and host in hosts_with_live_agents():
            problems.append(f"{host}: last sweep {age.total_seconds():.0f} s ago")
        elif not worker.details.get("tmux_running", True) and host in hosts_with_live_agents():
            problems.append(f"{host}: tmux server not running")
    return "ok" if not problems else "failed: " + "; ".join(problems)


CHECKS = {"database": _check_database, "broker": _check_broker, "beat": _check_beat, "workers": _check_workers}


def system_health(*, include_diagnostics: bool = False) -> dict:
    """Run each check; the system is healthy when every one passes."""
    started = time.monotonic()
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as error:  # a failed check is a result, reported to the caller
            results[name] = f"failed: {error}"
    health = {
        "status": "healthy" if all(v == "ok" for v in results.values()) else "unhealthy",
        "checks": results,
        "checks_performed": list(CHECKS),
        "response_time_ms": round((time.monotonic() - started) * 1000, 1),
    }
    if include_diagnostics:
        health["diagnostics"] = {
            "heartbeats": {h.name: {"seen_at": h.seen_at, **h.details} for h in Heartbeat.objects.all()},
            "agents_by_state": agents_by_state(),
        }
    return health


def agents_by_state() -> dict[str, int]:
    counts = dict(Agent.objects.values_list("state").annotate(n=Count("id")).order_by())
    return {state.value: counts.get(state.value, 0) for state in AgentState}


def system_status() -> dict:
    hosts = (
        Agent.objects.exclude(state=AgentState.STOPPED).values("host").annotate(agents=Count("id")).order_by("host")
    )
    return {
        **system_health(),
        "agents_by_state": agents_by_state(),
        "hosts": {row["host"]: row["agents"] for row in hosts},
    }
