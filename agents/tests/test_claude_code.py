"""Messages to the real Claude Code, running offline against a local API stub. What the
stub receives is what Claude Code submitted: the ground truth for delivery."""

from __future__ import annotations

import os

import pytest
from django.conf import settings

from agents import services
from agents.models import Agent, AgentState, Message, MessageKind, MessageStatus
from conftest import wait_for
from monitoring.services import host_sweep

pytestmark = [pytest.mark.claude, pytest.mark.django_db(transaction=True)]


def sweep_until(condition, timeout: float = 30, message: str = "condition", describe=None):
    """Run the health sweep (which also resumes deliveries) until `condition` holds."""
    def check():
        host_sweep(host=settings.TMUX_ORC.agent_host)
        return condition()
    return wait_for(check, timeout=timeout, interval=0.2, message=message, describe=describe)


def state_of(agent: Agent) -> str:
    return Agent.objects.get(pk=agent.pk).state


def status_of(message: Message) -> str:
    return Message.objects.get(pk=message.pk).status


@pytest.fixture
def claude(claude_profile, project_dir, gateway, eager_jobs):
    """Claude Code running in its window, idle, its briefing delivered."""
    operation = services.agent_spawn(session_name="cc", agent_type="qa", project_path=project_dir,
                                     profile=claude_profile, briefing="You are the QA agent; reply briefly.")
    agent = Agent.objects.get(pk=operation.agent_id)
    briefing = agent.messages.get(kind=MessageKind.BRIEFING)
    sweep_until(lambda: status_of(briefing) == MessageStatus.DELIVERED, timeout=60, message="the briefing",
                describe=lambda: gateway.capture_panes([agent.tmux_pane_id]))
    sweep_until(lambda: state_of(agent) == AgentState.IDLE, message="idle after the briefing")
    return Agent.objects.get(pk=agent.pk)


def deliver(agent: Agent, body: str, **options) -> Message:
    message = services.message_send(agent=agent, body=body, **options)
    sweep_until(lambda: status_of(message) == MessageStatus.DELIVERED, message=f"delivery of {body[:40]!r}",
                describe=lambda: Message.objects.get(pk=message.pk).__dict__)
    return Message.objects.get(pk=message.pk)


def test_the_briefing_is_submitted_once(claude, stub):
    sweep_until(lambda: len(stub.turns()) >= 1, message="the first turn")
    host_sweep(host=settings.TMUX_ORC.agent_host)
    assert stub.submitted() == ["You are the QA agent; reply briefly."]


HOSTILE = {
    "trailing semicolon": "run the tests;",
    "escaped semicolon": r"find . -exec rm {} \;",
    "leading dash": "-v is verbose",
    "key names": "C-c Enter Escape",
    "shell expansions": "$HOME `id` $(whoami) 'single' \"double\"",
    "tmux formats": "#(touch /tmp/tmux-orc-pwned) #{pane_id} #S",
    "unicode": "héllo wörld — ünïcödé ✓ 🚀✅",
    "several lines": "line one\nline two; still two\n\nline four",
    "tab": "a\tb",
    "100 kB": "".join(f"{i:06d} {'lorem ipsum; ' * 6}\n" for i in range(1200))[:100_000],
}


def test_hostile_messages_arrive_exactly_and_once(claude, stub, tmp_path):
    sent = []
    for name, body in HOSTILE.items():
        message = deliver(claude, body)
        assert message.submit_presses >= 1, name
        # Claude Code's own input turns a tab into spaces; the pane got the tab (test_gateway).
        sent.append(body.replace("\t", "    "))
        sweep_until(lambda: stub.submitted()[1:] == sent, message=f"the stub to receive {name!r}",
                    describe=lambda: [t[:60] for t in stub.submitted()])
    assert not os.path.exists("/tmp/tmux-orc-pwned")


def test_a_message_sent_while_claude_works_is_held_then_delivered(claude, stub):
    stub.reply_text("Working on it.", delay=5)
    deliver(claude, "first: take your time")
    sweep_until(lambda: state_of(claude) == AgentState.WORKING, message="Claude to work")

    second = services.message_send(agent=claude, body="second: after you are done")
    host_sweep(host=settings.TMUX_ORC.agent_host)

    assert status_of(second) == MessageStatus.QUEUED and state_of(claude) == AgentState.WORKING
    sweep_until(lambda: status_of(second) == MessageStatus.DELIVERED, message="the held message")
    # Claude Code sends the turn to the API a moment after it takes the text from its input.
    sweep_until(lambda: stub.submitted()[1:] == ["first: take your time", "second: after you are done"],
                message="both turns, in order", describe=lambda: stub.submitted())


def test_an_urgent_message_interrupts_claude(claude, stub):
    stub.reply_text("This takes forever.", delay=60)
    deliver(claude, "a very long job")
    sweep_until(lambda: state_of(claude) == AgentState.WORKING, message="Claude to work")

    urgent = deliver(claude, "STOP: urgent change of plan", urgent=True)

    assert "interrupt" in urgent.delivery_log
    sweep_until(lambda: stub.submitted()[-1:] == ["STOP: urgent change of plan"], message="the urgent message",
                describe=lambda: stub.submitted())
    # Claude Code puts an interrupted message back in its input; it was cleared, not resent.
    assert stub.submitted().count("a very long job") == 1


def test_a_permission_prompt_is_seen_and_approved_through_the_api(claude, stub, api, tmp_path):
    made = tmp_path / "approved.txt"
    stub.reply_tool("Bash", {"command": f"touch {made}", "description": "Create the file"})
    stub.reply_text("Created it.")
    deliver(claude, "please create the file")
    sweep_until(lambda: state_of(claude) == AgentState.WAITING_APPROVAL, message="the permission prompt")
    waiting = services.message_send(agent=claude, body="a message while it asks")
    host_sweep(host=settings.TMUX_ORC.agent_host)
    assert status_of(waiting) == MessageStatus.QUEUED  # messages wait for the answer too

    response = api.post("/agents/approve", {"target": claude.target}, format="json")

    assert response.status_code == 200, response.json()
    wait_for(made.exists, timeout=20, message="the approved command to run")
    sweep_until(lambda: status_of(waiting) == MessageStatus.DELIVERED, message="the waiting message")


def test_deny_refuses_the_prompt(claude, stub, api, tmp_path):
    refused = tmp_path / "refused.txt"
    stub.reply_tool("Bash", {"command": f"touch {refused}", "description": "Create the file"})
    deliver(claude, "please create the other file")
    sweep_until(lambda: state_of(claude) == AgentState.WAITING_APPROVAL, message="the permission prompt")

    response = api.post("/agents/deny", {"target": claude.target}, format="json")

    assert response.status_code == 200, response.json()
    sweep_until(lambda: state_of(claude) == AgentState.IDLE, message="Claude back at its prompt")
    assert not refused.exists()


def test_approving_without_a_prompt_is_refused_with_the_reason(claude, api):
    response = api.post("/agents/approve", {"target": claude.target}, format="json")
    assert response.status_code == 422
    assert "not showing a permission prompt" in response.json()["error_message"]


def test_history_keeps_claudes_answer(claude, stub, api):
    stub.reply_text("The answer is forty-two.")
    message = deliver(claude, "what is the answer?")

    sweep_until(lambda: Message.objects.get(pk=message.pk).reply, message="the answer to be recorded")

    history = api.get("/messages/history", {"target": claude.target}).json()["data"]
    assert history[-1]["body"] == "what is the answer?"
    assert "The answer is forty-two." in history[-1]["reply"]


def test_a_scripted_turn_is_seen_idle_working_waiting_for_approval_then_idle(claude, stub, api, tmp_path):
    from agents.models import AgentEvent

    made = tmp_path / "turn.txt"
    stub.reply_tool("Bash", {"command": f"touch {made}", "description": "Create the file"}, delay=3)
    stub.reply_text("All done.", delay=3)
    assert state_of(claude) == AgentState.IDLE
    start = AgentEvent.objects.filter(agent=claude).count()

    deliver(claude, "make the file, then tell me")
    sweep_until(lambda: state_of(claude) == AgentState.WAITING_APPROVAL, message="the permission prompt")
    assert api.post("/agents/approve", {"target": claude.target}, format="json").status_code == 200
    sweep_until(lambda: made.exists() and state_of(claude) == AgentState.IDLE, message="the end of the turn")

    seen = [e.to_state for e in AgentEvent.objects.filter(agent=claude).order_by("created_at", "id")[start:]]
    expected = [AgentState.WORKING, AgentState.WAITING_APPROVAL, AgentState.WORKING, AgentState.IDLE]
    it = iter(seen)
    assert all(state in it for state in expected), seen  # in this order (other looks may come between)
    assert seen[-1] == AgentState.IDLE


def test_an_automatic_restart_resumes_claudes_conversation(claude, stub):
    deliver(claude, "remember the word PELICAN")
    sweep_until(lambda: state_of(claude) == AgentState.IDLE, message="idle after the turn")
    turns, last = len(stub.turns()), claude.messages.order_by("-pk").first().pk

    services.agent_restart(agent=claude, requested_by="recovery")

    note = wait_for(lambda: claude.messages.filter(kind=MessageKind.BRIEFING, pk__gt=last).first(),
                    message="the note after the restart")
    assert note.body == services.RESUMED_NOTE
    sweep_until(lambda: len(stub.turns()) > turns, timeout=60, message="the first turn after the restart")
    remembered = stub.conversation(turns)
    assert any("remember the word PELICAN" in text for text in remembered), remembered
    assert stub.submitted().count("You are the QA agent; reply briefly.") == 1
