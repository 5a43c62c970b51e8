"""Limits a caller meets: requests per token, the size of a body, pages of lists, and how
many requests may wait at once."""

import json

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from agents.models import Agent, AgentState, Message
from orchestrator.services import agent_token_issue, token_create
from orchestrator.tests.test_mcp import call, over_http, text
from orchestrator.waits import wait_slot

pytestmark = pytest.mark.django_db(transaction=True)


def idle_agent(name: str, session: str = "shop") -> Agent:
    return Agent.objects.create(name=name, session_name=session, agent_type="developer", profile="shell",
                                project_path="/tmp", host="test-host", state=AgentState.IDLE)


def client(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def test_an_agent_token_over_its_rate_gets_429_saying_so_and_a_person_goes_on(monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "agent_rate_limit", 3)
    dev = idle_agent("dev")
    agent_api, person_api = client(agent_token_issue(agent=dev)), client(token_create(name="person")[1])

    answers = [agent_api.get("/agents/list").status_code for _ in range(4)]
    refused = agent_api.get("/agents/list")

    assert answers == [200, 200, 200, 429] and refused.status_code == 429
    assert refused.json()["error_message"].startswith(f"too many requests with token 'agent:{dev.target}:")
    assert "at most 3 a minute" in refused.json()["error_message"] and int(refused["Retry-After"]) >= 1
    assert [person_api.get("/agents/list").status_code for _ in range(5)] == [200] * 5


def test_over_mcp_the_same_rate_holds(http_server, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "agent_rate_limit", 2)
    dev = idle_agent("dev")
    results = call(over_http(http_server, agent_token_issue(agent=dev)),
                   *[("agents_list", {}) for _ in range(3)])

    assert [r.is_error for r in results] == [False, False, True]
    assert "too many requests" in text(results[2]) and "at most 2 a minute" in text(results[2])


def test_a_body_over_the_limit_is_refused_and_nothing_is_sent(api):
    idle_agent("dev")
    body = json.dumps({"target": "shop:dev", "message": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)})

    answer = api.generic("POST", "/messages/send", body, content_type="application/json")

    assert answer.status_code == 413
    assert "request body" in answer.json()["error_message"] and not Message.objects.exists()


def test_lists_come_in_pages_with_the_count_and_the_next_page(api):
    for number in range(5):
        idle_agent(f"dev{number}")

    first = api.get("/agents/list", {"limit": 2})
    last = api.get("/agents/list", {"limit": 2, "offset": 4})
    wrong = api.get("/agents/list", {"limit": 0})

    assert [a["window"] for a in first.json()["data"]] == ["dev0", "dev1"] and first["X-Total-Count"] == "5"
    assert 'offset=2' in first["Link"] and 'rel="next"' in first["Link"]
    assert [a["window"] for a in last.json()["data"]] == ["dev4"] and "Link" not in last
    assert wrong.status_code == 400 and "limit" in wrong.json()["error_message"]
    assert api.get("/teams/list", {"limit": 1}).status_code == 200
    for path in ("/monitor/agents/idle", "/monitor/agents/performance"):
        page = api.get(path, {"limit": 3, "offset": 1})
        assert len(page.json()["data"]) == 3 and page["X-Total-Count"] == "5" and "offset=4" in page["Link"], path


def test_a_wait_beyond_the_cap_is_answered_429_at_once(api, monkeypatch):
    from orchestrator import waits

    monkeypatch.setattr(settings.TMUX_ORC, "max_waits", 1)
    waits._slots.cache_clear()
    dev = idle_agent("dev")
    message = Message.objects.create(agent=dev, body="hello")  # queued: no worker here delivers it
    try:
        with wait_slot():  # the one slot, taken by another request's wait
            answer = api.get(f"/messages/{message.pk}", {"wait": 30})
        free = api.get(f"/messages/{message.pk}", {"wait": 0.2})
    finally:
        waits._slots.cache_clear()

    assert answer.status_code == 429 and "already waiting" in answer.json()["error_message"]
    assert free.status_code == 200 and free.json()["data"]["status"] == "queued"
