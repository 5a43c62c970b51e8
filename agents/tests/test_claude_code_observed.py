"""The real Claude Code, watched: its state follows its screen within a second, and
messages waiting for it go in as soon as it is idle, with no sweep running."""

from __future__ import annotations

import time

import pytest

from agents import services
from agents.models import Agent, AgentEvent, AgentState, Message, MessageKind, MessageStatus, Signal
from conftest import wait_for

pytestmark = [pytest.mark.claude, pytest.mark.django_db(transaction=True)]
TURN = 3.0  # seconds the stub takes to answer each turn


def state_of(agent: Agent) -> str:
    return Agent.objects.get(pk=agent.pk).state


def last_event_id() -> int:
    return AgentEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@pytest.fixture
def claude(claude_profile, stub, project_dir, gateway, eager_jobs, watcher):
    """Claude Code in its window, idle, its briefing delivered: by the watcher alone."""
    operation = services.agent_spawn(session_name="cc", agent_type="qa", project_path=project_dir,
                                     profile=claude_profile, briefing="You are the QA agent; reply briefly.")
    agent = Agent.objects.get(pk=operation.agent_id)
    briefing = agent.messages.get(kind=MessageKind.BRIEFING)
    wait_for(lambda: Message.objects.get(pk=briefing.pk).status == MessageStatus.DELIVERED, timeout=60,
             message="the briefing", describe=lambda: gateway.capture_panes([agent.tmux_pane_id]))
    wait_for(lambda: stub.answered, timeout=15, message="the answer to the briefing")
    wait_for(lambda: state_of(agent) == AgentState.IDLE, timeout=15, message="idle after the briefing")
    return Agent.objects.get(pk=agent.pk)


def test_ten_turns_are_each_seen_working_then_idle_within_a_second(claude, stub):
    for turn in range(10):
        stub.reply_text(f"Answer {turn}.", delay=TURN)
        start, answers = last_event_id(), len(stub.answered)

        message = services.message_send(agent=claude, body=f"turn {turn}")

        wait_for(lambda: len(stub.answered) > answers, timeout=TURN + 10, message=f"the answer to turn {turn}")
        wait_for(lambda: state_of(claude) == AgentState.IDLE, timeout=5, message=f"idle after turn {turn}")
        submitted = Message.objects.get(pk=message.pk).submitted_at.timestamp()
        events = list(AgentEvent.objects.filter(agent=claude, pk__gt=start).order_by("pk"))
        states = [event.to_state for event in events]
        assert states[0] == AgentState.WORKING and states[-1] == AgentState.IDLE, states
        assert AgentState.IDLE not in states[:-1], states  # no idle in the middle of the turn
        assert events[0].created_at.timestamp() - submitted <= 1.0, (turn, events[0].reason)
        assert events[-1].created_at.timestamp() - stub.answered[answers] <= 1.0, (turn, events[-1].reason)


def test_nine_queued_messages_drain_in_little_more_than_the_agents_own_time(claude, stub):
    bodies = [f"job {n}: reply done" for n in range(9)]
    for n in range(9):
        stub.reply_text(f"Done {n}.", delay=TURN)
    answers = len(stub.answered)
    started = time.time()

    for body in bodies:
        services.message_send(agent=claude, body=body)

    wait_for(lambda: len(stub.answered) == answers + 9, timeout=9 * TURN * 2, message="nine answers",
             describe=lambda: stub.submitted())
    took = stub.answered[-1] - started
    assert took <= 1.3 * 9 * TURN, f"{took:.1f} s for {9 * TURN:.0f} s of the agent's own work"
    assert stub.submitted()[-9:] == bodies
    assert not claude.messages.exclude(status=MessageStatus.DELIVERED).exists()


@pytest.fixture
def reachable(live_server, monkeypatch):
    """An API server the agent's hooks can reach."""
    from django.conf import settings

    monkeypatch.setattr(settings.TMUX_ORC, "public_url", live_server.url)
    return live_server


def test_claude_code_says_itself_what_it_received_and_when_it_is_done(reachable, claude, stub, tmp_path):
    stub.reply_text("Forty-two.", delay=1)
    body = "what is the answer?\nline two; with a semicolon  $HOME `id`"
    start = last_event_id()

    message = services.message_send(agent=claude, body=body)

    wait_for(lambda: Message.objects.get(pk=message.pk).received_at, timeout=15, message="the program's receipt",
             describe=lambda: Message.objects.get(pk=message.pk).status)
    received = Message.objects.get(pk=message.pk)
    assert received.received_exactly is True and received.received_at >= received.submitted_at
    wait_for(lambda: Agent.objects.filter(pk=claude.pk, hook_event="Stop", hook_at__gt=received.received_at).exists(),
             timeout=15, message="the Stop hook")
    wait_for(lambda: state_of(claude) == AgentState.IDLE, timeout=5, message="idle after the turn")
    turn = [(e.to_state, e.signal) for e in AgentEvent.objects.filter(agent=claude, pk__gt=start).order_by("pk")]
    # Working from whichever says so first: delivery seeing its text taken, or the program's hook.
    assert turn[0] in [(AgentState.WORKING, Signal.DELIVERY), (AgentState.WORKING, Signal.HOOK)], turn
    assert turn[-1][0] == AgentState.IDLE, turn
    assert AgentState.IDLE not in [state for state, _ in turn[:-1]], turn

    stub.reply_tool("Bash", {"command": f"touch {tmp_path / 'x'}", "description": "Create the file"})
    services.message_send(agent=claude, body="make the file")

    wait_for(lambda: Agent.objects.get(pk=claude.pk).hook_event in ("PermissionRequest", "Notification"), timeout=15,
             message="the PermissionRequest hook")
    wait_for(lambda: state_of(claude) == AgentState.WAITING_APPROVAL, timeout=5, message="waiting for approval")
    asked = AgentEvent.objects.filter(agent=claude, to_state=AgentState.WAITING_APPROVAL).latest("pk")
    assert asked.signal in (Signal.HOOK, Signal.SCREEN), asked.reason
    assert AgentEvent.objects.filter(agent=claude, signal=Signal.HOOK, reason__contains="SessionStart").exists()
