"""`tmux-orc`: the console script and the management commands it runs."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from agents.models import Agent, AgentState
from orchestrator import __version__

TMUX_ORC = Path(sys.executable).parent / "tmux-orc"
SESSION = "work"
TARGET = "work:Shell-developer"
pytestmark = pytest.mark.usefixtures("cli_api")
lifecycle = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    """Run a management command in this process; return what it printed."""
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def spawn(project_dir: str) -> Agent:
    run("agent", "spawn", SESSION, "developer", project_dir, "--profile", "shell")
    return Agent.objects.get(session_name=SESSION, name="Shell-developer")


def pane(gateway, pane_id: str):
    return next((p for p in gateway.list_panes() if p.pane_id == pane_id), None)


def make_agent(**fields) -> Agent:
    values = {
        "name": "Shell-developer", "session_name": SESSION, "agent_type": "developer", "profile": "shell",
        "project_path": "/tmp", "host": "test-host", "state": AgentState.IDLE, **fields,
    }
    return Agent.objects.create(**values)


# --- the console script ------------------------------------------------------------------


def test_version_prints_the_version():
    result = subprocess.run([str(TMUX_ORC), "--version"], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0
    assert result.stdout.strip() == f"tmux-orc {__version__}"


def test_no_arguments_prints_usage():
    result = subprocess.run([str(TMUX_ORC)], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0
    assert result.stdout.startswith("usage: tmux-orc")
    assert "agent spawn|list|status|explain|restart|kill" in result.stdout


# --- agent -------------------------------------------------------------------------------


@lifecycle
def test_agent_spawn_creates_the_window(eager_jobs, gateway, project_dir):
    output = run("agent", "spawn", SESSION, "developer", project_dir, "--profile", "shell")

    agent = Agent.objects.get(session_name=SESSION, name="Shell-developer")
    assert f"spawn of {TARGET} done" in output
    assert agent.state in (AgentState.STARTING, AgentState.WORKING)  # with jobs inline, briefed at once
    created = pane(gateway, agent.tmux_pane_id)
    assert created is not None
    assert (created.session_name, created.window_name) == (SESSION, "Shell-developer")


@lifecycle
def test_agent_spawn_takes_a_path_relative_to_where_it_runs(eager_jobs, gateway, project_dir, monkeypatch):
    monkeypatch.chdir(Path(project_dir).parent)

    run("agent", "spawn", SESSION, "developer", Path(project_dir).name, "--profile", "shell")

    assert Agent.objects.get(session_name=SESSION).project_path == project_dir


@lifecycle
def test_agent_list_shows_a_table_with_the_target(eager_jobs, tmux_socket, project_dir):
    spawn(project_dir)

    output = run("agent", "list")

    header, *rows = output.strip().splitlines()
    assert header.split()[:3] == ["TARGET", "STATE", "AGENT_TYPE"]
    assert len(rows) == 1
    target, state, agent_type = rows[0].split()[:3]
    assert (target, agent_type) == (TARGET, "developer") and state in ("starting", "working")  # briefed at once


@pytest.mark.django_db
def test_agent_list_says_so_when_there_are_no_agents():
    assert run("agent", "list").strip() == "no agents"


@pytest.mark.django_db
def test_agent_list_leaves_out_stopped_agents_unless_asked():
    make_agent(state=AgentState.STOPPED)

    assert json.loads(run("agent", "list", "--json")) == []
    assert [a["target"] for a in json.loads(run("agent", "list", "--all", "--json"))] == [TARGET]


@lifecycle
def test_agent_list_json_is_valid_json_with_the_agent(eager_jobs, tmux_socket, project_dir):
    agent = spawn(project_dir)

    data = json.loads(run("agent", "list", "--json"))

    assert [(a["id"], a["target"], a["tmux_pane_id"]) for a in data] == [(agent.pk, TARGET, agent.tmux_pane_id)]


@lifecycle
def test_agent_status_json_reports_the_state(eager_jobs, tmux_socket, project_dir):
    spawn(project_dir)

    data = json.loads(run("agent", "status", TARGET, "--json"))

    assert data["target"] == TARGET
    assert data["state"] in ("starting", "working")  # with jobs inline, it takes its briefing at once
    assert data["restart_count"] == 0
    assert data["health_score"] == {"starting": 60, "working": 100}[data["state"]]


@lifecycle
def test_agent_restart_starts_a_new_program_in_the_same_pane(eager_jobs, gateway, project_dir):
    agent = spawn(project_dir)
    before = pane(gateway, agent.tmux_pane_id)

    output = run("agent", "restart", TARGET)

    after = pane(gateway, agent.tmux_pane_id)
    agent.refresh_from_db()
    assert f"restart of {TARGET} done" in output
    assert after is not None and after.pid != before.pid
    assert agent.pane_pid == after.pid
    assert agent.restart_count == 1


@lifecycle
def test_agent_kill_removes_the_window_and_stops_the_agent(eager_jobs, gateway, project_dir):
    agent = spawn(project_dir)

    output = run("agent", "kill", TARGET)

    agent.refresh_from_db()
    assert f"kill of {TARGET} done" in output
    assert agent.state == AgentState.STOPPED
    assert agent.tmux_window_id not in {p.window_id for p in gateway.list_panes()}


@lifecycle
def test_agent_kill_of_a_stopped_agent_is_an_error(eager_jobs, tmux_socket, project_dir):
    spawn(project_dir)
    run("agent", "kill", TARGET)

    with pytest.raises(CommandError, match="already stopped"):
        run("agent", "kill", TARGET)


@pytest.mark.django_db
def test_agent_spawn_of_an_unknown_type_is_an_error_and_records_nothing(project_dir):
    with pytest.raises(CommandError, match="agent_type: unknown agent type 'wizard'"):
        run("agent", "spawn", SESSION, "wizard", project_dir, "--profile", "shell")

    assert not Agent.objects.exists()


@pytest.mark.django_db
def test_agent_spawn_in_a_missing_directory_is_an_error_and_records_nothing(tmp_path):
    missing = str(tmp_path / "absent")

    with pytest.raises(CommandError, match="project_path: .* does not exist"):
        run("agent", "spawn", SESSION, "developer", missing, "--profile", "shell")

    assert not Agent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["status", "restart", "kill"])
def test_a_target_without_a_colon_is_an_error(action):
    make_agent()

    with pytest.raises(CommandError, match="target: not 'session:window'"):
        run("agent", action, "nocolon")

    assert Agent.objects.count() == 1
    assert not Agent.objects.get().operations.exists()


@pytest.mark.django_db
def test_a_target_with_no_agent_is_an_error():
    with pytest.raises(CommandError, match="no agent at work:nobody"):
        run("agent", "status", "work:nobody")


# --- token -------------------------------------------------------------------------------


def _list_agents(raw_token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    return client.get("/agents/list")


@pytest.mark.django_db
def test_token_create_prints_a_token_that_authenticates():
    raw = run("token", "create", "ci").strip()

    assert _list_agents(raw).status_code == 200


@pytest.mark.django_db
def test_token_revoke_makes_the_token_fail():
    raw = run("token", "create", "ci").strip()

    assert run("token", "revoke", "ci").strip() == "revoked ci"
    assert _list_agents(raw).status_code == 401


@pytest.mark.django_db
def test_token_create_with_a_taken_name_is_an_error():
    run("token", "create", "ci")

    with pytest.raises(CommandError, match="a token named 'ci' already exists"):
        run("token", "create", "ci")


@pytest.mark.django_db
def test_token_list_shows_names_but_not_tokens():
    raw = run("token", "create", "ci").strip()

    output = run("token", "list")

    assert "ci" in output
    assert raw[:10] in output
    assert raw not in output


# --- status ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_status_json_reports_the_database_and_agents_by_state():
    make_agent(name="one", state=AgentState.IDLE)
    make_agent(name="two", state=AgentState.IDLE)
    make_agent(name="three", state=AgentState.CRASHED)
    from monitoring.services import beat_heartbeat, worker_started

    beat_heartbeat()
    worker_started()

    data = json.loads(run("status", "--json"))

    assert data["checks"]["database"] == "ok"
    assert data["agents_by_state"] == {state.value: 0 for state in AgentState} | {"idle": 2, "crashed": 1}
    assert data["hosts"] == {"test-host": 3}


@pytest.mark.django_db
def test_status_exits_non_zero_when_unhealthy_and_says_why():
    out = io.StringIO()
    with pytest.raises(CommandError, match="unhealthy"):
        call_command("status", stdout=out)
    assert "no worker has reported yet" in out.getvalue()


@lifecycle
def test_agent_send_and_history(eager_jobs, gateway, project_dir, monkeypatch):
    from monitoring.services import host_sweep
    from django.conf import settings
    from conftest import wait_for

    agent = spawn(project_dir)
    pane_id = agent.tmux_pane_id
    wait_for(lambda: gateway.capture_panes([pane_id])[pane_id].rstrip().endswith(("$", "#")), message="a prompt")
    host_sweep(host=settings.TMUX_ORC.agent_host)

    output = run("agent", "send", TARGET, "echo from-cli >> cli.txt", "--wait", "20")

    assert "delivered" in output
    wait_for(lambda: (Path(project_dir) / "cli.txt").exists(), message="the command to run")
    assert (Path(project_dir) / "cli.txt").read_text() == "from-cli\n"
    history = run("agent", "history", TARGET)
    assert "echo from-cli >> cli.txt" in history and "(delivered)" in history
    as_json = json.loads(run("agent", "history", TARGET, "--json"))
    assert [m["kind"] for m in as_json] == ["briefing", "message"]


@pytest.mark.django_db
def test_agent_send_to_an_unknown_target_is_a_clear_error():
    with pytest.raises(CommandError, match="no agent at nobody:here"):
        run("agent", "send", "nobody:here", "hi")


@pytest.mark.django_db
def test_monitor_agents_idle_lists_idle_agents():
    make_agent(name="sleepy", state=AgentState.IDLE)
    make_agent(name="busy", state=AgentState.WORKING)

    output = run("monitor", "agents", "idle")

    assert "work:sleepy" in output and "work:busy" not in output
    assert [row["target"] for row in json.loads(run("monitor", "agents", "idle", "--json"))] == ["work:sleepy"]


@pytest.mark.django_db
def test_monitor_metrics_and_performance_print():
    make_agent(name="one", state=AgentState.IDLE)
    assert "agents idle" in run("monitor", "metrics")
    assert "work:one" in run("monitor", "agents", "performance")


@pytest.mark.django_db
def test_watch_redraws_until_interrupted(monkeypatch):
    import time as time_module

    make_agent(name="w", state=AgentState.IDLE)
    draws = []

    def interrupt_on_second_sleep(seconds):
        draws.append(seconds)
        if len(draws) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(time_module, "sleep", interrupt_on_second_sleep)
    output = run("agent", "status", "work:w", "--watch", "1")
    assert output.count("state ") == 2 and "Ctrl-C to stop" in output
