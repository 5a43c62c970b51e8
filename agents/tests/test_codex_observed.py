"""The real Codex CLI, offline: its notify command tells the orchestrator when a turn is over.

Nothing reads the screen after a delivery here (no watcher, no sweep running): the delivery
sets the agent working, and only Codex's own word, over HTTP to the API, can set it idle again.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from django.conf import settings

from agents import services
from agents.models import Agent, AgentEvent, AgentState, Message, MessageKind, MessageStatus, Signal
from conftest import wait_for
from monitoring.services import host_sweep

pytestmark = pytest.mark.django_db(transaction=True)
TURN = 1.0  # seconds the stub takes to answer a turn: Codex's side requests are answered at once


def last_event_id() -> int:
    return AgentEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def screen_of(gateway, agent: Agent) -> str:
    return gateway.capture_panes([agent.tmux_pane_id]).get(agent.tmux_pane_id, "")


@pytest.fixture
def reachable(live_server, monkeypatch):
    """An API server the agent's notify command can reach (TMUX_ORC_URL in its pane)."""
    monkeypatch.setattr(settings.TMUX_ORC, "public_url", live_server.url)
    return live_server


@pytest.fixture
def codex(reachable, codex_profile, openai_stub, project_dir, gateway, eager_jobs):
    """Codex in its window, idle, its briefing answered and the end of that turn reported."""
    openai_stub.reply_text("Ready.", delay=TURN)
    operation = services.agent_spawn(session_name="cx", agent_type="qa", project_path=project_dir,
                                     profile=codex_profile, briefing="You are the QA agent; reply briefly.")
    agent = Agent.objects.get(pk=operation.agent_id)
    wait_for(lambda: "? for shortcuts" in screen_of(gateway, agent), timeout=30, message="Codex's prompt",
             describe=lambda: screen_of(gateway, agent))
    host_sweep(host=settings.TMUX_ORC.agent_host)  # seen idle: the briefing goes in
    briefing = agent.messages.get(kind=MessageKind.BRIEFING)
    wait_for(lambda: Message.objects.get(pk=briefing.pk).status == MessageStatus.DELIVERED, timeout=15,
             message="the briefing", describe=lambda: Message.objects.get(pk=briefing.pk).delivery_log)
    wait_for(lambda: openai_stub.answered, timeout=15, message="the answer to the briefing")
    # The turn's own notify, not the one of the thread title Codex asks for first (answered at once).
    answered = datetime.fromtimestamp(openai_stub.answered[0], timezone.utc)
    wait_for(lambda: Agent.objects.filter(pk=agent.pk, state=AgentState.IDLE, hook_at__gt=answered).exists(),
             timeout=15, message="the notify after the briefing", describe=lambda: screen_of(gateway, agent))
    return Agent.objects.get(pk=agent.pk)


def test_codex_says_itself_when_its_turn_is_done(codex, openai_stub, gateway):
    openai_stub.reply_text("Forty-two.", delay=TURN)
    body = "what is the answer?"
    start, answers = last_event_id(), len(openai_stub.answered)

    message = services.message_send(agent=codex, body=body)

    wait_for(lambda: body in openai_stub.submitted(), timeout=15, message="the message at the stub",
             describe=lambda: f"{Message.objects.get(pk=message.pk).status}; {screen_of(gateway, codex)}")
    wait_for(lambda: len(openai_stub.answered) > answers, timeout=TURN + 10, message="the answer")
    wait_for(lambda: AgentEvent.objects.filter(agent=codex, pk__gt=start, signal=Signal.HOOK,
                                               to_state=AgentState.IDLE).exists(),
             timeout=15, message="idle from Codex's notify", describe=lambda: screen_of(gateway, codex))
    assert openai_stub.submitted()[-1] == body
    assert Message.objects.get(pk=message.pk).status == MessageStatus.DELIVERED
    turn = list(AgentEvent.objects.filter(agent=codex, pk__gt=start).order_by("pk"))
    assert [(e.to_state, e.signal) for e in turn] == [(AgentState.WORKING, Signal.DELIVERY),
                                                      (AgentState.IDLE, Signal.HOOK)], [e.reason for e in turn]
    assert "agent-turn-complete" in turn[-1].reason
    assert turn[-1].created_at.timestamp() >= openai_stub.answered[answers]  # after the answer, not before
    agent = Agent.objects.get(pk=codex.pk)
    assert (agent.state, agent.hook_event, agent.hook_state) == (AgentState.IDLE, "agent-turn-complete",
                                                                 AgentState.IDLE)


def test_the_title_codex_asks_for_does_not_end_its_first_turn(codex, openai_stub):
    took = AgentEvent.objects.filter(agent=codex, to_state=AgentState.WORKING, signal=Signal.DELIVERY).earliest("pk")
    idle = AgentEvent.objects.filter(agent=codex, pk__gt=took.pk, to_state=AgentState.IDLE).earliest("pk")
    assert idle.created_at.timestamp() >= openai_stub.answered[0], idle.reason
