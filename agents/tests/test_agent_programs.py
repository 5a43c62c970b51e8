"""Codex, Aider, Gemini CLI and opencode, the real programs, offline against stubs of their
model APIs: what the stub receives is what the program submitted, the ground truth for
delivery. Each test runs once per program, through the same services as Claude Code's
(agents/tests/test_claude_code.py).

With TMUX_ORC_KEEP_SCREENS=1 the tests write the screens they saw to
agents/tests/screens/<program>/, the fixtures test_screens.py reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from agents import services
from agents.models import Agent, AgentEvent, AgentState, Message, MessageKind, MessageStatus
from agents.profiles import get_profile
from agents.screens import classify_screen, input_text
from agents.tests.test_claude_code import HOSTILE, sweep_until
from conftest import wait_for
from monitoring.services import host_sweep

pytestmark = [pytest.mark.programs, pytest.mark.django_db(transaction=True)]
SCREENS = Path(__file__).parent / "screens"
BRIEFING = "You are the QA agent; reply briefly."


@dataclass
class Program:
    """One agent program under test: its profile, its stub and how it asks for permission."""

    name: str
    profile: str
    stub: object
    gateway: object
    agent: Agent | None = None

    def ask_to_run(self, command: str, delay: float = 0.0) -> None:
        """Script the next turn to ask for `command` to run: a tool call, or for Aider (which
        has no tools) a shell block in the answer."""
        if self.name == "aider":
            self.stub.reply_text(f"Run this:\n\n```bash\n{command}\n```\n", delay=delay)
        elif self.name == "codex":
            self.stub.reply_tool("exec_command", {"cmd": command, "sandbox_permissions": "require_escalated",
                                                  "justification": "the test asks"}, delay=delay)
        elif self.name == "gemini":
            self.stub.reply_tool("run_shell_command", {"command": command, "description": "the test asks"},
                                 delay=delay)
        else:
            self.stub.reply_tool("bash", {"command": command, "description": "the test asks"}, delay=delay)

    def submitted(self) -> list[str]:
        """What the program submitted to its model, turn by turn, as the user wrote it."""
        texts = self.stub.submitted()
        if self.name == "aider":  # Aider adds its edit format's rules after the user's text
            texts = [text.split(AIDER_REMINDER, 1)[0].rstrip("\n") for text in texts]
        return texts

    def screen(self) -> str:
        return self.gateway.capture_panes([self.agent.tmux_pane_id]).get(self.agent.tmux_pane_id, "")

    def keep(self, name: str) -> None:
        """Write the screen as a fixture, when asked to (TMUX_ORC_KEEP_SCREENS=1)."""
        if os.environ.get("TMUX_ORC_KEEP_SCREENS"):
            (SCREENS / self.name).mkdir(parents=True, exist_ok=True)
            (SCREENS / self.name / f"{name}.txt").write_text(self.screen().rstrip("\n") + "\n")


AIDER_REMINDER = "\n\n# *SEARCH/REPLACE block* Rules:"
STUBS = {"codex": "openai_stub", "aider": "chat_stub", "gemini": "gemini_stub", "opencode": "chat_stub"}


def state_of(agent: Agent) -> str:
    return Agent.objects.get(pk=agent.pk).state


def status_of(message: Message) -> str:
    return Message.objects.get(pk=message.pk).status


@pytest.fixture(params=list(STUBS))
def program(request, project_dir, gateway, eager_jobs) -> Program:
    """The program running in its window, idle, its briefing delivered and answered."""
    name = request.param
    stub = request.getfixturevalue(STUBS[name])
    profile = request.getfixturevalue(f"{name}_profile")
    program = Program(name, profile, stub, gateway)
    operation = services.agent_spawn(session_name=f"p-{name}", agent_type="qa", project_path=project_dir,
                                     profile=profile, briefing=BRIEFING)
    program.agent = agent = Agent.objects.get(pk=operation.agent_id)
    briefing = agent.messages.get(kind=MessageKind.BRIEFING)
    sweep_until(lambda: status_of(briefing) == MessageStatus.DELIVERED, timeout=90, message="the briefing",
                describe=lambda: f"{Message.objects.get(pk=briefing.pk).delivery_log}\n{program.screen()}")
    wait_for(lambda: stub.answered, timeout=30, message="the answer to the briefing", describe=program.screen)
    sweep_until(lambda: state_of(agent) == AgentState.IDLE, message="idle after the briefing",
                describe=program.screen)
    program.keep("idle")
    program.agent = Agent.objects.get(pk=agent.pk)
    return program


def deliver(program: Program, body: str, **options) -> Message:
    message = services.message_send(agent=program.agent, body=body, **options)
    sweep_until(lambda: status_of(message) == MessageStatus.DELIVERED, message=f"delivery of {body[:40]!r}",
                describe=lambda: f"{Message.objects.get(pk=message.pk).__dict__}\n{program.screen()}")
    return Message.objects.get(pk=message.pk)


def test_the_briefing_is_submitted_once(program):
    sweep_until(lambda: len(program.submitted()) >= 1, message="the first turn")
    host_sweep(host=settings.TMUX_ORC.agent_host)
    assert program.submitted() == [BRIEFING]


def as_received(program: Program, body: str) -> str:
    """`body` as the program passes it on: opencode folds a paste of three lines or more
    into one part of its input and puts a space after it."""
    if program.name == "opencode" and body.count("\n") >= 2:
        return body + " "
    return body


def test_hostile_messages_arrive_exactly_and_once(program, tmp_path):
    sent = []
    for name, body in HOSTILE.items():
        message = deliver(program, body)
        assert message.submit_presses >= 1, name
        sent.append(as_received(program, body))
        sweep_until(lambda: program.submitted()[1:] == sent, message=f"the stub to receive {name!r}",
                    describe=lambda: [t[:60] for t in program.submitted()])
        sweep_until(lambda: state_of(program.agent) == AgentState.IDLE, message=f"idle after {name!r}",
                    describe=program.screen)
    assert not os.path.exists("/tmp/tmux-orc-pwned")


def test_a_message_sent_while_the_program_works_is_held_then_delivered(program):
    program.stub.reply_text("Working on it.", delay=6)
    deliver(program, "first: take your time")
    sweep_until(lambda: state_of(program.agent) == AgentState.WORKING, message="the program to work")
    profile = get_profile(program.profile)
    wait_for(lambda: classify_screen(program.screen(), profile) == AgentState.WORKING, message="work on its screen",
             describe=program.screen)
    program.keep("working")

    second = services.message_send(agent=program.agent, body="second: after you are done")
    host_sweep(host=settings.TMUX_ORC.agent_host)

    assert status_of(second) == MessageStatus.QUEUED and state_of(program.agent) == AgentState.WORKING
    sweep_until(lambda: status_of(second) == MessageStatus.DELIVERED, message="the held message")
    sweep_until(lambda: program.submitted()[1:] == ["first: take your time", "second: after you are done"],
                message="both turns, in order", describe=program.submitted)


def test_an_urgent_message_interrupts_the_program(program):
    program.stub.reply_text("This takes forever.", delay=60)
    deliver(program, "a very long job")
    sweep_until(lambda: state_of(program.agent) == AgentState.WORKING, message="the program to work")

    urgent = deliver(program, "STOP: urgent change of plan", urgent=True)

    assert "interrupt" in urgent.delivery_log
    sweep_until(lambda: program.submitted()[-1:] == ["STOP: urgent change of plan"], message="the urgent message",
                describe=lambda: f"{program.submitted()}\n{program.screen()}")
    program.keep("after_interrupt")
    assert program.submitted().count("a very long job") == 1


def test_a_permission_prompt_is_seen_and_approved_through_the_api(program, api, project_dir):
    made = Path(project_dir) / "approved.txt"  # in the project: one permission asked
    program.ask_to_run(f"touch {made}")
    program.stub.reply_text("Created it.")
    deliver(program, "please create the file")
    sweep_until(lambda: state_of(program.agent) == AgentState.WAITING_APPROVAL, message="the permission prompt",
                describe=program.screen)
    program.keep("waiting_approval")
    waiting = services.message_send(agent=program.agent, body="a message while it asks")
    host_sweep(host=settings.TMUX_ORC.agent_host)
    assert status_of(waiting) == MessageStatus.QUEUED  # messages wait for the answer too

    response = api.post("/agents/approve", {"target": program.agent.target}, format="json")

    assert response.status_code == 200, response.json()
    wait_for(made.exists, timeout=20, message="the approved command to run", describe=program.screen)
    program.keep("approved")
    sweep_until(lambda: status_of(waiting) == MessageStatus.DELIVERED, message="the waiting message",
                describe=program.screen)


def test_deny_refuses_the_prompt(program, api, project_dir):
    refused = Path(project_dir) / "refused.txt"  # in the project: one permission asked
    program.ask_to_run(f"touch {refused}")
    deliver(program, "please create the other file")
    sweep_until(lambda: state_of(program.agent) == AgentState.WAITING_APPROVAL, message="the permission prompt",
                describe=program.screen)

    response = api.post("/agents/deny", {"target": program.agent.target}, format="json")

    assert response.status_code == 200, response.json()
    sweep_until(lambda: state_of(program.agent) == AgentState.IDLE, message="the program back at its prompt",
                describe=program.screen)
    program.keep("denied")
    assert not refused.exists()


def test_a_scripted_turn_is_seen_idle_working_waiting_for_approval_then_idle(program, api, project_dir):
    made = Path(project_dir) / "turn.txt"  # in the project: one permission asked
    program.ask_to_run(f"touch {made}", delay=3)
    program.stub.reply_text("All done.", delay=3)
    assert state_of(program.agent) == AgentState.IDLE
    start = AgentEvent.objects.filter(agent=program.agent).order_by("-pk").values_list("pk", flat=True).first()

    deliver(program, "make the file, then tell me")
    sweep_until(lambda: state_of(program.agent) == AgentState.WAITING_APPROVAL, message="the permission prompt",
                describe=program.screen)
    assert api.post("/agents/approve", {"target": program.agent.target}, format="json").status_code == 200
    sweep_until(lambda: made.exists() and state_of(program.agent) == AgentState.IDLE, message="the end of the turn",
                describe=program.screen)

    seen = [e.to_state for e in AgentEvent.objects.filter(agent=program.agent, pk__gt=start).order_by("pk")]
    expected = [AgentState.WORKING, AgentState.WAITING_APPROVAL, AgentState.WORKING, AgentState.IDLE]
    it = iter(seen)
    assert all(state in it for state in expected), seen  # in this order (other looks may come between)
    assert seen[-1] == AgentState.IDLE


def restart_and_wait(program: Program, **options) -> Message:
    """Restart the program through the services (as recovery or a person does); the first
    message it is given after, once the stub has the turn it opened."""
    turns, last = len(program.stub.turns()), program.agent.messages.order_by("-pk").first().pk
    services.agent_restart(agent=program.agent, **options)
    first = wait_for(lambda: program.agent.messages.filter(kind=MessageKind.BRIEFING, pk__gt=last).first(),
                     message="the first message after the restart")
    sweep_until(lambda: status_of(first) == MessageStatus.DELIVERED, timeout=90, message="the first message after",
                describe=lambda: f"{Message.objects.get(pk=first.pk).delivery_log}\n{program.screen()}")
    wait_for(lambda: len(program.stub.turns()) > turns, timeout=30, message="the first turn after the restart",
             describe=program.screen)
    return Message.objects.get(pk=first.pk)


def first_turn_with(program: Program, text: str, start: int) -> list[str]:
    """The user texts of the first turn from number `start` on that ends with `text`."""
    for index in range(start, len(program.stub.turns())):
        conversation = program.stub.conversation(index)
        if conversation and text in conversation[-1]:
            return conversation
    pytest.fail(f"no turn since {start} ends with {text!r}: {program.submitted()}")


def test_an_automatic_restart_resumes_the_conversation(program):
    deliver(program, "remember the word PELICAN")
    sweep_until(lambda: state_of(program.agent) == AgentState.IDLE, message="idle after the turn",
                describe=program.screen)
    turns = len(program.stub.turns())

    note = restart_and_wait(program, requested_by="recovery")

    assert note.body == services.RESUMED_NOTE
    remembered = first_turn_with(program, services.RESUMED_NOTE, turns)  # what it sent with the note
    assert any("remember the word PELICAN" in text for text in remembered), remembered
    assert any(BRIEFING in text for text in remembered), remembered  # from before: not given again
    assert program.submitted().count(BRIEFING) == 1


@pytest.mark.parametrize("program", ["gemini"], indirect=True)
def test_a_person_can_restart_it_fresh_and_briefed_again(program, api):
    deliver(program, "remember the word PELICAN")
    sweep_until(lambda: state_of(program.agent) == AgentState.IDLE, message="idle after the turn")
    turns = len(program.stub.turns())

    response = api.post("/agents/restart", {"target": program.agent.target, "resume": False}, format="json")
    assert response.status_code == 200, response.json()
    sweep_until(lambda: program.submitted().count(BRIEFING) == 2, timeout=60, message="the briefing again",
                describe=program.screen)

    remembered = first_turn_with(program, BRIEFING, turns)
    assert not any("PELICAN" in text for text in remembered), remembered
    assert program.submitted().count(BRIEFING) == 2


def test_text_left_in_the_input_is_cleared_before_a_message_goes_in(program):
    left = "half a thought\nand a second line"
    program.gateway.type_text(program.agent.tmux_pane_id, left)
    wait_for(lambda: input_text(program.screen(), get_profile(program.profile)), message="the text in the input",
             describe=program.screen)
    program.keep("typed")

    message = deliver(program, "the real message")

    assert "cleared text left in the input" in message.delivery_log
    sweep_until(lambda: program.submitted()[1:] == ["the real message"], message="only the message",
                describe=program.submitted)
