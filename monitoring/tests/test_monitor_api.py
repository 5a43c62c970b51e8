"""The /monitor endpoints, over rows a sweep would have written."""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import Agent, AgentState, Message, MessageStatus

pytestmark = pytest.mark.django_db


def agent(name, state, **fields):
    return Agent.objects.create(name=name, session_name="mon", agent_type="developer", profile="shell",
                                project_path="/tmp", host="h1", state=state, started_at=timezone.now(), **fields)


def test_status_with_metrics_and_agent_details(api):
    busy = agent("busy", AgentState.WORKING)
    agent("calm", AgentState.IDLE)
    now = timezone.now()
    for seconds in (1, 2, 3, 10):
        message = Message.objects.create(agent=busy, body="x", status=MessageStatus.DELIVERED)
        Message.objects.filter(pk=message.pk).update(created_at=now - timedelta(seconds=seconds), delivered_at=now)
    Message.objects.create(agent=busy, body="waiting")
    busy.set_state(AgentState.CRASHED, "the window is gone")

    data = api.get("/monitor/status", {"include_metrics": "true", "include_agent_details": "true"}).json()["data"]

    assert data["agents_by_state"]["crashed"] == 1 and data["agents_by_state"]["idle"] == 1
    metrics = data["metrics"]
    assert metrics["messages_by_status"]["delivered"] == 4 and metrics["messages_by_status"]["queued"] == 1
    assert metrics["delivery_seconds"]["count"] == 4 and metrics["delivery_seconds"]["max"] >= 10
    assert metrics["crashes_24h"] == 1
    assert sorted(a["target"] for a in data["agents"]) == ["mon:busy", "mon:calm"]


def test_metrics_json(api):
    agent("one", AgentState.IDLE)
    data = api.get("/monitor/metrics").json()["data"]
    assert data["agents_by_state"]["idle"] == 1 and data["restarts_24h"] == 0


def test_idle_agents_longest_first_with_a_minimum(api):
    agent("recent", AgentState.IDLE)
    agent("long", AgentState.IDLE, state_changed_at=timezone.now() - timedelta(minutes=30))
    agent("working", AgentState.WORKING)

    everyone = api.get("/monitor/agents/idle").json()["data"]
    long_only = api.get("/monitor/agents/idle", {"min_minutes": 10}).json()["data"]

    assert [a["target"] for a in everyone] == ["mon:long", "mon:recent"]
    assert [(a["target"], a["idle_minutes"]) for a in long_only] == [("mon:long", 30)]
    assert api.get("/monitor/agents/idle", {"min_minutes": -1}).status_code == 400


def test_agents_performance(api):
    agent("perf", AgentState.IDLE, restart_count=2)
    rows = api.get("/monitor/agents/performance").json()["data"]
    assert rows == [{"target": "mon:perf", "state": "idle", "agent_type": "developer", "health_score": 100,
                     "uptime_minutes": 0, "restart_count": 2, "messages_delivered_24h": 0,
                     "median_delivery_seconds": None}]
