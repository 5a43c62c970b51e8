"""Explain: why an agent is in its state, from the API (`/agents/status?explain=true`) and
the CLI (`tmux-orc agent explain`): the signal that set it, the screen read, the last hook."""

import io
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from agents.models import Agent, AgentEvent, AgentState, Signal

pytestmark = [pytest.mark.usefixtures("cli_api"), pytest.mark.django_db]
TARGET = "cc:Claude-qa"
PROMPT_LINES = ["Welcome to Claude Code", "─" * 40, "❯", "─" * 40, "  ? for shortcuts"]
STATUS_FIELDS = {"target", "state", "state_reason", "state_changed_at", "responsive", "last_activity",
                 "uptime_minutes", "idle_minutes", "restart_count", "health_score", "host", "host_down"}


def run(*args: str) -> str:
    """Run a management command in this process; return what it printed."""
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def make_agent(**fields) -> Agent:
    values = {"name": "Claude-qa", "session_name": "cc", "agent_type": "qa", "profile": "claude",
              "project_path": "/tmp", "host": "h", "tmux_pane_id": "%1", "state": AgentState.IDLE, **fields}
    return Agent.objects.create(**values)


def change(agent: Agent, from_state: str, to_state: str, signal: str, reason: str, ago: float) -> AgentEvent:
    return AgentEvent.objects.create(agent=agent, from_state=from_state, to_state=to_state, signal=signal,
                                     reason=reason, created_at=timezone.now() - timedelta(seconds=ago))


@pytest.fixture
def idle_after_stop() -> Agent:
    """An agent its Stop hook made idle two minutes ago, whose screen was read 3 s ago."""
    now = timezone.now()
    read_at = now - timedelta(seconds=3)
    agent = make_agent(
        state_reason="hook Stop: its turn ended", state_changed_at=now - timedelta(minutes=2),
        hook_event="Stop", hook_state=AgentState.IDLE, hook_at=now - timedelta(minutes=2),
        observation={"signal": Signal.SCREEN, "state": AgentState.IDLE, "lines": PROMPT_LINES,
                     "matched": ["its input box is drawn, waiting (perhaps with text in it)"],
                     "at": read_at.isoformat()},
        observed_at=read_at,
    )
    change(agent, AgentState.STARTING, AgentState.IDLE, Signal.SCREEN, "seen on screen: its input box is drawn", 600)
    change(agent, AgentState.IDLE, AgentState.WORKING, Signal.DELIVERY, "message 1 submitted: it took it", 300)
    change(agent, AgentState.WORKING, AgentState.IDLE, Signal.HOOK, "hook Stop: its turn ended", 120)
    return agent


def explain_of(api, target: str = TARGET) -> dict:
    response = api.get("/agents/status", {"target": target, "explain": "true"})
    assert response.status_code == 200, response.json()
    return response.json()["data"]["explain"]


# --- the API -------------------------------------------------------------------------------


def test_status_without_explain_is_unchanged(api, idle_after_stop):
    response = api.get("/agents/status", {"target": TARGET})

    assert response.status_code == 200
    assert set(response.json()["data"]) == STATUS_FIELDS


def test_explain_names_the_signal_that_set_the_state_and_the_screen_read(api, idle_after_stop):
    response = api.get("/agents/status", {"target": TARGET, "explain": "true"})

    data = response.json()["data"]
    assert set(data) == STATUS_FIELDS | {"explain"}
    explain = data["explain"]
    assert (explain["state"], explain["signal"]) == (AgentState.IDLE, Signal.HOOK)
    assert explain["state_reason"] == "hook Stop: its turn ended"
    assert explain["state_changed_at"] == data["state_changed_at"]
    screen = explain["screen"]
    assert (screen["signal"], screen["state"]) == (Signal.SCREEN, AgentState.IDLE)
    assert screen["matched"] == ["its input box is drawn, waiting (perhaps with text in it)"]
    assert screen["lines"] == PROMPT_LINES and screen["read_at"]
    assert explain["hook"]["event"] == "Stop" and explain["hook"]["state"] == AgentState.IDLE
    assert explain["hook"]["outranks_screen"] is False  # two minutes old: the screen is the newer word


def test_explain_lists_the_last_five_changes_newest_last(api, idle_after_stop):
    for i in range(4):
        change(idle_after_stop, AgentState.IDLE, AgentState.IDLE, Signal.HOOK, "hook SessionStart", 60 - i)
    change(idle_after_stop, AgentState.STARTING, AgentState.STARTING, Signal.SERVICE, "same state", 30)
    for i, state in enumerate([AgentState.WORKING, AgentState.IDLE, AgentState.WORKING]):
        change(idle_after_stop, AgentState.IDLE if i % 2 == 0 else AgentState.WORKING, state, Signal.SCREEN,
               f"change {i}", 20 - i)

    events = explain_of(api)["recent_events"]

    assert [e["reason"] for e in events] == ["message 1 submitted: it took it", "hook Stop: its turn ended",
                                             "change 0", "change 1", "change 2"]
    assert set(events[-1]) == {"to_state", "signal", "reason", "created_at"}


def test_a_session_start_hook_is_not_what_set_the_state(api, idle_after_stop):
    change(idle_after_stop, AgentState.IDLE, AgentState.IDLE, Signal.HOOK, "hook SessionStart (resume)", 10)

    assert explain_of(api)["signal"] == Signal.HOOK  # still the Stop hook's change, not a change to itself
    AgentEvent.objects.filter(signal=Signal.HOOK).delete()
    assert explain_of(api)["signal"] == Signal.SCREEN  # the change to idle before it


def test_a_fresh_hook_the_agent_is_still_in_outranks_the_screen(api):
    agent = make_agent(state=AgentState.WORKING, hook_event="UserPromptSubmit", hook_state=AgentState.WORKING,
                       hook_at=timezone.now())

    assert explain_of(api)["hook"]["outranks_screen"] is True
    Agent.objects.filter(pk=agent.pk).update(state=AgentState.IDLE)  # moved on since: the hook is old news
    assert explain_of(api)["hook"]["outranks_screen"] is False


def test_explain_says_plainly_when_the_screen_was_never_read(api):
    make_agent(state=AgentState.STARTING)

    explain = explain_of(api)

    assert explain["screen"] is None and explain["hook"] is None
    assert explain["signal"] == "" and explain["recent_events"] == []


def test_explain_of_an_unknown_target_is_a_404_that_says_so(api):
    response = api.get("/agents/status", {"target": "cc:nobody", "explain": "true"})

    assert response.status_code == 404
    assert response.json()["error_message"] == "no agent at cc:nobody"


def test_explain_must_be_a_boolean(api, idle_after_stop):
    response = api.get("/agents/status", {"target": TARGET, "explain": "maybe"})

    assert response.status_code == 400 and "explain" in response.json()["error_message"]


def test_the_schema_documents_explain(api):
    schema = api.get("/openapi.json", HTTP_ACCEPT="application/json").json()

    status = schema["paths"]["/agents/status"]["get"]
    assert "explain" in {p["name"] for p in status["parameters"]}
    explain = schema["components"]["schemas"]["AgentExplain"]["properties"]
    assert {"state", "signal", "screen", "hook", "recent_events"} <= set(explain)
    assert "explain" in schema["components"]["schemas"]["AgentStatus"]["properties"]
    assert {"matched", "lines", "read_at"} <= set(schema["components"]["schemas"]["ScreenReading"]["properties"])


# --- the CLI -------------------------------------------------------------------------------


def test_agent_explain_prints_the_state_signal_screen_and_hook(idle_after_stop):
    output = run("agent", "explain", TARGET)

    lines = output.splitlines()
    assert lines[0].startswith(f"{TARGET} is idle since ") and lines[0].endswith("(2 min ago)")
    assert lines[1] == "  told by: hook (hook Stop: its turn ended)"
    assert lines[2].startswith("  screen, read ") and lines[2].endswith(
        "s ago): idle — its input box is drawn, waiting (perhaps with text in it)")
    assert lines[3:3 + len(PROMPT_LINES)] == [f"    | {line}" for line in PROMPT_LINES]
    assert "  last hook: Stop (idle) at " in output and output.count("(2 min ago)") == 2
    assert output.rstrip().endswith("-> idle (hook): hook Stop: its turn ended")


def test_agent_explain_says_when_the_screen_was_never_read():
    make_agent(state=AgentState.STARTING)

    output = run("agent", "explain", TARGET)

    assert "  screen: never read" in output and "  last hook: none" in output
    assert "  told by: no change of state recorded" in output and "  recent changes: none" in output


def test_agent_explain_of_a_crash_says_tmux_saw_it():
    now = timezone.now()
    make_agent(state=AgentState.CRASHED, state_reason="the program exited with status 1", observed_at=now,
               observation={"signal": Signal.PROCESS, "state": AgentState.CRASHED, "lines": [],
                            "matched": ["the program exited with status 1"], "at": now.isoformat()})

    output = run("agent", "explain", TARGET)

    assert ": crashed — the program exited with status 1" in output and "  tmux, seen " in output
    assert "    | " not in output


def test_agent_explain_json_is_what_the_api_explains(api, idle_after_stop):
    data = json.loads(run("agent", "explain", TARGET, "--json"))

    assert set(data) == set(explain_of(api))
    assert data["signal"] == Signal.HOOK and data["screen"]["lines"] == PROMPT_LINES
    assert data["hook"]["event"] == "Stop"


def test_agent_explain_of_an_unknown_target_is_the_error_status_gives():
    with pytest.raises(CommandError, match="no agent at cc:nobody"):
        run("agent", "explain", "cc:nobody")
    with pytest.raises(CommandError, match="no agent at cc:nobody"):
        run("agent", "status", "cc:nobody")


# --- real tmux -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_shell_seen_at_its_prompt_is_explained_by_its_screen(shell, api):
    from monitoring.services import host_sweep

    host_sweep(host=settings.TMUX_ORC.agent_host)

    explain = explain_of(api, shell.target)
    assert (explain["state"], explain["signal"]) == (AgentState.IDLE, Signal.SCREEN)
    assert "a bare prompt on the last line" in explain["screen"]["matched"]
    assert explain["screen"]["lines"][-1].rstrip().endswith(("$", "#"))
    output = run("agent", "explain", shell.target)
    assert "  told by: screen (seen on screen: a bare prompt on the last line)" in output
    assert f"    | {explain['screen']['lines'][-1]}" in output
