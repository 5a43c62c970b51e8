"""End to end through a real Celery worker process consuming from real Redis: the API
asks, the worker on the agent's host queue acts on a real (private) tmux server."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

from agents.models import OperationStatus
from conftest import ROOT, TEST_CONFIG, wait_for
from tests.support import Output, stop, database_url_of_tests

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tmux_socket, monkeypatch):
    if not settings.TMUX_ORC.redis_url:
        if os.environ.get("CI"):
            pytest.fail("REDIS_URL must be set in CI: the end-to-end tests need real Redis")
        pytest.skip("set REDIS_URL to run the end-to-end tests through a real worker")
    host = f"e2e-{secrets.token_hex(4)}"  # its own queue: no other worker can take the jobs
    monkeypatch.setattr(settings.TMUX_ORC, "agent_host", host)
    env = {
        **os.environ,
        "DATABASE_URL": database_url_of_tests(),
        "TMUX_ORC_AGENT_HOST": host,
        "TMUX_ORC_TMUX_SOCKET": tmux_socket,
        "TMUX_ORC_CONFIG": str(TEST_CONFIG),
    }
    command = [sys.executable, "-m", "celery", "-A", "orchestrator", "worker", "--queues", f"host.{host}",
               "--hostname", f"{host}@test", "--concurrency", "2", "--loglevel", "info"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    output = Output(process)
    wait_for(lambda: "ready." in output.text or process.poll() is not None, timeout=60, message="the worker")
    assert process.poll() is None, output.text
    yield output
    stop(process)


def test_spawn_restart_kill_go_through_the_worker(api, worker, gateway, project_dir):
    payload = {"session_name": "e2e", "agent_type": "qa", "project_path": project_dir, "profile": "shell"}

    spawned = api.post("/agents/spawn", payload, format="json")

    assert spawned.status_code == 201, (spawned.json(), worker.text)
    data = spawned.json()["data"]
    assert data["operation"]["status"] == OperationStatus.SUCCEEDED
    panes = {p.pane_id: p for p in gateway.list_panes()}
    assert panes[data["tmux_pane_id"]].window_name == "Shell-qa"
    assert "agents.run_operation" in worker.text  # the worker, not this process, did it

    restarted = api.post("/agents/restart", {"target": data["target"]}, format="json")
    assert restarted.status_code == 200, restarted.json()
    new_pid = {p.pane_id: p.pid for p in gateway.list_panes()}[data["tmux_pane_id"]]
    assert new_pid != panes[data["tmux_pane_id"]].pid

    killed = api.post("/agents/kill", {"target": data["target"]}, format="json")
    assert killed.status_code == 200 and killed.json()["data"]["state"] == "stopped"
    assert gateway.list_panes() == []


def test_without_a_worker_for_the_host_the_api_says_so(api, tmux_socket, project_dir, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "agent_host", f"nobody-{secrets.token_hex(3)}")
    monkeypatch.setattr(settings.TMUX_ORC, "default_timeout", 1.0)
    payload = {"session_name": "e2e", "agent_type": "qa", "project_path": project_dir, "profile": "shell"}

    response = api.post("/agents/spawn", payload, format="json")

    assert response.status_code == 202
    data = response.json()["data"]
    assert data["operation"]["status"] == "pending" and data["state"] == "starting"
    assert "no worker for host nobody-" in data["detail"]
