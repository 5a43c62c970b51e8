"""An agent program's hooks, as the API receives them: state at once, receipts on messages."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import Agent, AgentEvent, AgentState, Message, MessageStatus, Signal
from agents.hooks import HOOK_TRUSTED_FOR
from monitoring.looks import seen
from agents.profiles import get_profile
from orchestrator.services import agent_token_issue

pytestmark = pytest.mark.django_db(transaction=True)

IDLE_SCREEN = "\n".join(["Welcome", "─" * 40, "❯ ", "─" * 40, "  ? for shortcuts"])


@pytest.fixture
def agent():
    return Agent.objects.create(name="Claude-qa", session_name="hk", agent_type="qa", profile="claude",
                                project_path="/tmp", host="h", tmux_pane_id="%1", state=AgentState.IDLE)


@pytest.fixture
def program(agent):
    """The API as the agent's hook reporter reaches it: with the agent's own token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_token_issue(agent=agent)}")
    return client


def report(client, **payload):
    return client.post("/agents/hook", {"session_id": "s1", "cwd": "/tmp", **payload}, format="json")


def submitted(agent, body) -> Message:
    return Message.objects.create(agent=agent, body=body, status=MessageStatus.DELIVERING,
                                  submitted_at=timezone.now())


def test_a_submitted_prompt_is_a_receipt_on_its_message_and_means_working(agent, program):
    message = submitted(agent, "run the tests;\nthen report")

    response = report(program, hook_event_name="UserPromptSubmit", prompt="run the tests;\nthen report")

    assert response.status_code == 200, response.json()
    assert response.json()["data"] == {"event": "UserPromptSubmit", "state": "working", "message": message.pk}
    message.refresh_from_db()
    assert message.received_exactly is True and message.received_at is not None and message.received_text == ""
    event = AgentEvent.objects.get(agent=agent)
    assert (event.to_state, event.signal) == (AgentState.WORKING, Signal.HOOK)


def test_a_prompt_that_differs_from_the_message_is_recorded_as_received(agent, program):
    message = submitted(agent, "a\tb")

    report(program, hook_event_name="UserPromptSubmit", prompt="a    b")

    message.refresh_from_db()
    assert message.received_exactly is False and message.received_text == "a    b"


def test_stop_means_idle_and_says_when_the_screen_disagreed(agent, program):
    Agent.objects.filter(pk=agent.pk).update(state=AgentState.WORKING, observation={"state": "working"})

    report(program, hook_event_name="Stop", stop_hook_active=False)

    agent.refresh_from_db()
    assert agent.state == AgentState.IDLE and agent.hook_event == "Stop"
    assert "the screen last showed working: the program's own word wins" in agent.state_reason


def test_a_permission_request_means_waiting_for_approval(agent, program):
    report(program, hook_event_name="Notification", message="Claude needs your permission to use Bash",
           notification_type="permission_prompt")

    assert Agent.objects.get(pk=agent.pk).state == AgentState.WAITING_APPROVAL


def test_session_start_is_an_event_without_a_change_of_state(agent, program):
    report(program, hook_event_name="SessionStart", source="startup")

    event = AgentEvent.objects.get(agent=agent)
    assert event.from_state == event.to_state == AgentState.IDLE and "SessionStart (startup)" in event.reason


def test_only_an_agents_own_token_reports_hooks(agent, api):
    response = report(api, hook_event_name="Stop")

    assert response.status_code == 403
    assert "agent's own token" in response.json()["error_message"]


def test_an_unknown_event_is_refused_and_changes_nothing(agent, program):
    response = report(program, hook_event_name="Teleport")

    assert response.status_code == 400
    assert "hook_event_name: 'Teleport' is not one of" in response.json()["error_message"]
    assert Agent.objects.get(pk=agent.pk).hook_event == ""


def test_a_screen_read_just_after_a_hook_does_not_undo_it_but_a_later_one_does(agent):
    now = timezone.now()
    Agent.objects.filter(pk=agent.pk).update(state=AgentState.WORKING, hook_event="UserPromptSubmit",
                                             hook_state=AgentState.WORKING, hook_at=now)
    agent.refresh_from_db()
    profile = get_profile("claude")

    early = seen(agent, now, IDLE_SCREEN, profile)
    agent.hook_at = now - timedelta(seconds=HOOK_TRUSTED_FOR + 1)
    late = seen(agent, now, IDLE_SCREEN, profile)

    assert (early.state, early.signal) == (AgentState.WORKING, Signal.HOOK)
    assert "the screen (idle) has not caught up yet" in early.reason
    assert (late.state, late.signal) == (AgentState.IDLE, Signal.SCREEN)
    assert "the screen wins over hook UserPromptSubmit" in late.reason


def test_codex_says_its_turn_is_complete_through_its_notify_command(agent, program):
    Agent.objects.filter(pk=agent.pk).update(state=AgentState.WORKING)

    response = report(program, **{"type": "agent-turn-complete", "turn-id": "t1", "last-assistant-message": "ok"})

    assert response.status_code == 200, response.json()
    assert Agent.objects.get(pk=agent.pk).state == AgentState.IDLE


def test_the_reporter_posts_what_the_program_gives_it_and_never_fails_the_program(agent, live_server, tmp_path):
    """agents/hook_report.py as Claude Code (stdin) and Codex (last argument) run it."""
    import json
    import subprocess

    from agents.hooks import REPORTER_ARGV

    env = {"TMUX_ORC_URL": live_server.url, "TMUX_ORC_TOKEN": agent_token_issue(agent=agent), "PATH": "/usr/bin:/bin"}
    stop = json.dumps({"hook_event_name": "Stop", "session_id": "s"})
    by_stdin = subprocess.run(REPORTER_ARGV, input=stop, env=env, capture_output=True, text=True, timeout=20)
    assert Agent.objects.get(pk=agent.pk).hook_event == "Stop"
    busy = json.dumps({"hook_event_name": "UserPromptSubmit", "prompt": "go"})
    by_argument = subprocess.run([*REPORTER_ARGV, busy], env=env, capture_output=True, text=True, timeout=20)
    assert Agent.objects.get(pk=agent.pk).hook_event == "UserPromptSubmit"
    unreachable = subprocess.run(REPORTER_ARGV, input=stop, env={**env, "TMUX_ORC_URL": "http://127.0.0.1:9"},
                                 capture_output=True, text=True, timeout=20)

    for run in (by_stdin, by_argument, unreachable):
        assert (run.returncode, run.stdout, run.stderr) == (0, "", "")


def test_a_profile_with_an_unknown_kind_of_hooks_fails_at_start_naming_it(monkeypatch):
    from django.conf import settings

    from agents.profiles import all_profiles
    from orchestrator.config import ConfigError

    monkeypatch.setattr(settings.TMUX_ORC, "profiles", {"mine": {"command": "mine", "hooks": "smoke-signals"}})

    with pytest.raises(ConfigError, match=r"\[agents.profiles.mine\].*hooks must be one of '', 'claude', 'codex'"):
        all_profiles()
