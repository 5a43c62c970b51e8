"""`tmux-orc vscode init`: the files it writes, and each task it writes run as VS Code runs
it, against a real service, real shell agents on a private tmux server, and terminals that
are the panes of a second private tmux server."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from agents import services
from agents.gateway import Gateway
from agents.models import Agent, AgentState
from conftest import TEST_CONFIG, wait_for
from orchestrator.services import token_create
from orchestrator.vscode import ALL_AGENTS, API_DOCS, START_SERVER, SYSTEM_STATUS, agent_label, parse_jsonc
from tests.support import SERVICE_ENV, Output, free_port, stop

pytestmark = pytest.mark.django_db(transaction=True)

TMUX_ORC = Path(sys.executable).parent / "tmux-orc"
VARIABLE = re.compile(r"\$\{([^}]*)\}")


# --- the command, and VS Code's way of running a task --------------------------------------

@pytest.fixture
def token(db) -> str:
    return token_create(name=f"vscode-{secrets.token_hex(3)}")[1]


@pytest.fixture
def user_env(tmux_socket, tmp_path, token) -> dict[str, str]:
    """The environment of the person's shell, which VS Code's tasks inherit: a token, a
    data directory of its own, the agents' tmux server (no TMUX_ORC_URL: the tasks say where)."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "TMUX_TMPDIR") if k in os.environ}
    env.update(TMUX_ORC_TOKEN=token, TMUX_ORC_DATA_DIR=str(tmp_path / "client"), TMUX_ORC_CONFIG=str(TEST_CONFIG),
               TMUX_ORC_TMUX_SOCKET=tmux_socket, TMUX_ORC_AGENT_HOST=settings.TMUX_ORC.agent_host)
    return env


def tmux_orc(env: dict, url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(TMUX_ORC), *args], env={**env, "TMUX_ORC_URL": url}, check=False, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def workspace(tmp_path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def agents(tmux_socket, eager_jobs, project_dir) -> list[Agent]:
    """Two shell agents in one session on this host's (private) tmux server, and one on
    another host."""
    spawned = [services.agent_spawn(session_name="shop", agent_type=kind, project_path=project_dir, profile="shell",
                                    name=name, host=settings.TMUX_ORC.agent_host).agent_id
               for name, kind in (("dev", "developer"), ("qa", "qa"))]
    Agent.objects.create(name="far", session_name="gpu", agent_type="developer", profile="shell",
                         project_path=project_dir, host="elsewhere", state=AgentState.IDLE)
    found = list(Agent.objects.filter(pk__in=spawned).order_by("name"))
    assert all(agent.tmux_window_id for agent in found), [agent.state_reason for agent in found]
    return found


def read(path: Path) -> dict:
    return parse_jsonc(path.read_text())[0]


def task_named(workspace: Path, label: str) -> dict:
    tasks = {task["label"]: task for task in read(workspace / ".vscode" / "tasks.json")["tasks"]}
    assert label in tasks, sorted(tasks)
    return tasks[label]


def as_vscode_runs(task: dict, workspace: Path, env: dict) -> tuple[list[str], dict, str]:
    """A process task's program, arguments, environment and directory, with its variables
    replaced as VS Code does: `${config:KEY}` from the workspace's settings, `${workspaceFolder}`."""
    config = read(workspace / ".vscode" / "settings.json")

    def value(match):
        name = match.group(1)
        if name == "workspaceFolder":
            return str(workspace)
        assert name.startswith("config:") and name[7:] in config, f"{name} is not in the settings: {sorted(config)}"
        return str(config[name[7:]])

    assert task["type"] == "process", task
    def resolve(text):
        return VARIABLE.sub(value, text)
    options = task.get("options", {})
    argv = [resolve(task["command"]), *map(resolve, task.get("args", []))]
    return argv, {**env, **{k: resolve(v) for k, v in options.get("env", {}).items()}}, \
        resolve(options.get("cwd", str(workspace)))


def run_task(label: str, workspace: Path, env: dict, **more_env) -> subprocess.CompletedProcess:
    argv, env, cwd = as_vscode_runs(task_named(workspace, label), workspace, {**env, **more_env})
    return subprocess.run(argv, env=env, cwd=cwd, check=False, capture_output=True, text=True, timeout=120)


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def set_setting(workspace: Path, key: str, value) -> None:
    path = workspace / ".vscode" / "settings.json"
    path.write_text(json.dumps({**read(path), key: value}))


# --- the tasks, run --------------------------------------------------------------------------

def test_each_agents_terminal_task_shows_that_agents_window_all_at_once(http_server, agents, workspace, user_env,
                                                                        tmux_socket):
    made = tmux_orc(user_env, http_server, "vscode", "init", str(workspace))
    assert made.returncode == 0, made.stderr
    opened = task_named(workspace, ALL_AGENTS)
    assert sorted(opened["dependsOn"]) == [agent_label("shop:dev"), agent_label("shop:qa")]
    assert opened["dependsOrder"] == "parallel"
    terminals = Gateway(socket_name=f"vscode-{secrets.token_hex(4)}")  # VS Code's terminal panel
    terminals.run([["new-session", "-d", "-x", "160", "-y", "40", "cat"]])
    try:
        ttys = {}
        for label in opened["dependsOn"]:
            argv, env, cwd = as_vscode_runs(task_named(workspace, label), workspace, user_env)
            assert task_named(workspace, label)["presentation"]["panel"] == "dedicated"
            ttys[terminals.run([["new-window", "-d", "-P", "-F", "#{pane_tty}", "-c", cwd,
                                 *[a for k, v in env.items() for a in ("-e", f"{k}={v}")], shlex.join(argv)]])[0]] = label
        agents_server = Gateway(socket_name=tmux_socket)
        def clients():
            return [line.split(" ") for line in agents_server.run(
                    [["list-clients", "-F", "#{client_tty} #{session_name} #{window_name}"]])]
        def shown():
            return {ttys.get(tty, tty): window for tty, _, window in clients()}
        wait_for(lambda: shown() == {agent_label("shop:dev"): "dev", agent_label("shop:qa"): "qa"},
                 message="each terminal attached to its agent's window", describe=clients)
        assert "shop" not in {session for _, session, _ in clients()}  # each on a view of its own of the session
    finally:
        terminals.kill_server()
    def sessions():
        return Gateway(socket_name=tmux_socket).run([["list-sessions", "-F", "#{session_name}"]])
    wait_for(lambda: sessions() == ["shop"], message="the terminals' sessions to go with them", describe=sessions)
    panes = {pane.pane_id: pane for pane in Gateway(socket_name=tmux_socket).list_panes()}
    assert all(not panes[agent.tmux_pane_id].dead for agent in agents)


def test_the_status_task_prints_the_status_of_the_service_the_settings_name(http_server, agents, workspace,
                                                                            user_env):
    assert tmux_orc(user_env, http_server, "vscode", "init", str(workspace)).returncode == 0

    shown = run_task(SYSTEM_STATUS, workspace, user_env)

    assert "agents by state:" in shown.stdout and settings.TMUX_ORC.agent_host in shown.stdout, shown
    assert "Traceback" not in shown.stderr
    dead = free_port()
    set_setting(workspace, "tmux-orchestrator.server.port", dead)
    elsewhere = run_task(SYSTEM_STATUS, workspace, user_env)
    assert elsewhere.returncode == 1 and f"cannot reach the service at http://127.0.0.1:{dead}" in elsewhere.stderr


def test_the_docs_task_opens_the_services_docs_in_the_browser(http_server, agents, workspace, user_env, tmp_path,
                                                              token):
    assert tmux_orc(user_env, http_server, "vscode", "init", str(workspace)).returncode == 0
    browser, opened = tmp_path / "browser", tmp_path / "opened"
    browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {opened}\n')
    browser.chmod(0o755)

    ran = run_task(API_DOCS, workspace, user_env, BROWSER=str(browser))

    assert ran.returncode == 0, ran.stderr
    assert opened.read_text() == f"{http_server}/docs"
    page = urllib.request.Request(opened.read_text(), headers={"Authorization": f"Bearer {token}",
                                                               "Accept": "text/html"})
    with urllib.request.urlopen(page, timeout=30) as response:
        assert response.status == 200 and "swagger" in response.read().decode().lower()


def test_the_server_task_starts_the_service_on_the_settings_port(http_server, agents, workspace, user_env, tmp_path):
    assert tmux_orc(user_env, http_server, "vscode", "init", str(workspace)).returncode == 0
    port = free_port()
    set_setting(workspace, "tmux-orchestrator.server.port", port)
    # A service of its own: embedded database and broker in a data directory of its own.
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_ENV and not k.startswith("TMUX_ORC_")}
    env.update(TMUX_ORC_DATA_DIR=str(tmp_path / "service"), TMUX_ORC_CONFIG=str(TEST_CONFIG), TMUX_ORC_WORKERS="1",
               TMUX_ORC_TMUX_SOCKET=f"vscode-service-{secrets.token_hex(4)}")
    argv, env, cwd = as_vscode_runs(task_named(workspace, START_SERVER), workspace, env)
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    output = Output(process)
    try:
        wait_for(lambda: "Token:" in output.text or process.poll() is not None, timeout=180, message="the banner")
        assert process.poll() is None, output.text
        assert f"http://127.0.0.1:{port}/docs" in output.text
        assert status_of(f"http://127.0.0.1:{port}/agents/list") == 401, output.text  # the API, on that port
    finally:
        stop(process)
        Gateway(socket_name=env["TMUX_ORC_TMUX_SOCKET"]).kill_server()


# --- the files -------------------------------------------------------------------------------

def test_init_keeps_the_users_own_tasks_and_settings_and_replaces_its_own(http_server, agents, workspace, user_env):
    (workspace / ".vscode").mkdir()
    (workspace / ".vscode" / "tasks.json").write_text("""{
  // See https://go.microsoft.com/fwlink/?LinkId=733558
  "version": "2.0.0",
  "tasks": [
    {"label": "build", "type": "shell", "command": "make // not a comment",},
    {"label": "tmux-orc: Open agent gone:away", "type": "process", "command": "tmux"},
  ],
  "inputs": [],
}""")
    (workspace / ".vscode" / "settings.json").write_text('{"editor.tabSize": 2, "tmux-orchestrator.autostart": true}')

    first = tmux_orc(user_env, http_server, "vscode", "init", str(workspace))
    again = tmux_orc(user_env, http_server, "vscode", "init", str(workspace))

    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    tasks = read(workspace / ".vscode" / "tasks.json")
    labels = [task["label"] for task in tasks["tasks"]]
    assert labels == ["build", ALL_AGENTS, agent_label("shop:dev"), agent_label("shop:qa"), START_SERVER, API_DOCS,
                      SYSTEM_STATUS]
    assert tasks["tasks"][0]["command"] == "make // not a comment" and tasks["inputs"] == []
    assert task_named(workspace, START_SERVER)["runOptions"] == {"runOn": "folderOpen"}  # autostart, as set
    port = int(http_server.rsplit(":", 1)[1])
    assert read(workspace / ".vscode" / "settings.json") == {
        "editor.tabSize": 2, "tmux-orchestrator.server.host": "127.0.0.1", "tmux-orchestrator.server.port": port,
        "tmux-orchestrator.autostart": True, "tmux-orchestrator.monitoring.enabled": settings.TMUX_ORC.metrics_enabled,
    }
    assert "comments were not kept" in first.stdout and "1 of yours kept" in again.stdout, first.stdout
    assert "gpu:far on elsewhere" in again.stdout  # an agent on another host: no terminal here


def test_bad_input_is_one_clear_line_and_writes_nothing(http_server, workspace, user_env, tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    (tmp_path / "broken" / ".vscode").mkdir(parents=True)
    (tmp_path / "broken" / ".vscode" / "tasks.json").write_text('{"tasks": [}')

    not_a_folder = tmux_orc(user_env, http_server, "vscode", "init", str(a_file))
    unreachable = tmux_orc(user_env, f"http://127.0.0.1:{free_port()}", "vscode", "init", str(workspace))
    invalid = tmux_orc(user_env, http_server, "vscode", "init", str(tmp_path / "broken"))

    assert not_a_folder.returncode == 1 and "not a directory" in not_a_folder.stderr
    assert unreachable.returncode == 1 and "cannot reach the service" in unreachable.stderr
    assert invalid.returncode == 1 and "tasks.json is not valid JSON" in invalid.stderr
    for ran in (not_a_folder, unreachable, invalid):
        assert len(ran.stderr.strip().splitlines()) == 1 and "Traceback" not in ran.stderr, ran.stderr
    assert list(workspace.iterdir()) == []
    assert [p.name for p in (tmp_path / "broken" / ".vscode").iterdir()] == ["tasks.json"]
    assert (tmp_path / "broken" / ".vscode" / "tasks.json").read_text() == '{"tasks": [}'
