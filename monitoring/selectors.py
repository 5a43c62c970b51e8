"""Reads about the whole system: health checks and counts."""

from __future__ import annotations

import time

from django.db import connection
from django.db.models import Count

from agents.models import Agent, AgentState
from orchestrator.celery import app as celery_app


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_broker() -> str:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


CHECKS = {"database": _check_database, "broker": _check_broker}


def system_health() -> dict:
    """Run each check; the system is healthy when every one passes."""
    started = time.monotonic()
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as error:  # a failed check is a result, reported to the caller
            results[name] = f"failed: {error}"
    return {
        "status": "healthy" if all(v == "ok" for v in results.values()) else "unhealthy",
        "checks": results,
        "checks_performed": list(CHECKS),
        "response_time_ms": round((time.monotonic() - started) * 1000, 1),
    }


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
