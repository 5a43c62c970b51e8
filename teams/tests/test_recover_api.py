"""POST /coordination/recover on real tmux."""

import pytest
from django.conf import settings

from agents.models import Agent, AgentState, MessageKind
from conftest import wait_for
from monitoring.services import host_sweep
from monitoring.tests.test_recovery import crash

pytestmark = pytest.mark.django_db(transaction=True)


def test_recover_restarts_the_failed_agents_of_a_session_and_briefs_them_again(api, shell, gateway, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "max_restarts", 0)  # automatic recovery gives up at once
    crash(gateway, shell)
    host_sweep(host=settings.TMUX_ORC.agent_host)
    assert Agent.objects.get(pk=shell.pk).state == AgentState.FAILED

    response = api.post("/coordination/recover", {"session_names": [shell.session_name]}, format="json")

    assert response.status_code == 200, response.content
    restarted = response.json()["data"]["restarted"]
    assert [(a["target"], a["operation"]["status"]) for a in restarted] == [(shell.target, "succeeded")]
    agent = Agent.objects.get(pk=shell.pk)
    assert agent.state in (AgentState.STARTING, AgentState.WORKING) and agent.recovery_attempts == 0
    assert not next(p for p in gateway.list_panes() if p.pane_id == agent.tmux_pane_id).dead
    wait_for(lambda: (host_sweep(host=settings.TMUX_ORC.agent_host),  # seen idle, it is briefed
                      agent.messages.filter(kind=MessageKind.BRIEFING, status="delivered").count() == 2)[1],
             message="the briefing delivered again")


def test_recover_leaves_healthy_agents_alone(api, shell):
    response = api.post("/coordination/recover", {}, format="json")

    assert response.status_code == 200 and response.json()["data"]["restarted"] == []
    assert Agent.objects.get(pk=shell.pk).restart_count == 0


def test_recover_of_an_unknown_session_says_so(api, db):
    response = api.post("/coordination/recover", {"session_names": ["nowhere"]}, format="json")

    assert response.status_code == 404
    assert response.json()["error_message"] == "no live agents in session(s): nowhere"
