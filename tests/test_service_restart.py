"""Stopping and starting the README's run command (`bin/run`) on the embedded default:
the agents keep running in tmux, the new service knows them as they are, and what was
fell due while it was down is delivered once it is back. With the service down the CLI
says it cannot reach it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bench.service import Http, Service
from conftest import wait_for

pytestmark = [pytest.mark.smoke, pytest.mark.timeout(420)]

NAMES = ["a0", "a1", "a2"]
FINAL = {"delivered", "failed", "expired", "cancelled"}
KEPT = ["target", "tmux_session_id", "tmux_window_id", "tmux_pane_id", "pane_pid", "restart_count", "started_at"]


def spawn_shells(http: Http, service: Service) -> dict[str, Path]:
    dirs = {}
    for name in NAMES:
        dirs[name] = service.workdir / "agents" / name
        dirs[name].mkdir(parents=True)
        status, body = http.call("POST", "/agents/spawn", {
            "session_name": "keep", "name": name, "agent_type": "developer", "project_path": str(dirs[name]),
            "profile": "shell", "briefing_message": "# kept across restarts"})
        assert status == 201, (body, service.recent_output())
    return dirs


def agents(http: Http) -> dict[str, dict]:
    status, body = http.call("GET", "/agents/list?session_name=keep")
    return {a["window"]: a for a in body["data"]} if status == 200 else {}


def all_idle(http: Http) -> bool:
    listed = agents(http)
    return sorted(listed) == NAMES and all(a["state"] == "idle" for a in listed.values())


def recorded(path: Path) -> list[str]:
    log = path / "got.log"
    return log.read_text().splitlines() if log.exists() else []


def schedule(service: Service, target: str, text: str, minutes: str) -> dict:
    """`tmux-orc orchestrator schedule`: the message is stored, due in `minutes`."""
    scheduled = service.cli("orchestrator", "schedule", minutes, text, target, "--json")
    assert scheduled.returncode == 0, (scheduled.stdout, scheduled.stderr)
    return json.loads(scheduled.stdout)


def due(message: dict) -> datetime:
    return datetime.fromisoformat(message["not_before"].replace("Z", "+00:00"))


def message_final(http: Http, message_id: int) -> dict | None:
    status, body = http.call("GET", f"/messages/{message_id}?wait=5")
    return body["data"] if status == 200 and body["data"]["status"] in FINAL else None


def test_a_restarted_service_knows_its_agents_and_delivers_what_fell_due_while_it_was_down(tmp_path):
    service = Service(tmp_path)
    try:
        service.start()
        http = Http(service.base_url, service.token)
        dirs = spawn_shells(http, service)
        wait_for(lambda: all_idle(http), timeout=90, interval=0.5, message="three idle shell agents",
                 describe=lambda: f"{agents(http)}\n{service.recent_output()}")
        status, body = http.call("POST", "/messages/send?wait=30", {"target": "keep:a0",
                                                                    "message": "echo before-stop >>got.log"})
        assert status == 201 and body["data"]["status"] == "delivered", (body, service.recent_output())
        # Due while the service is down: stored now, delivered when it is back.
        queued = [schedule(service, "keep:a1", "echo while-down-1 >>got.log", "0.25"),
                  schedule(service, "keep:a1", "echo while-down-2 >>got.log", "0.26"),
                  schedule(service, "keep:a2", "echo check-in >>got.log", "0.25")]
        before = agents(http)
        panes_before = {p.pane_id: p.pid for p in service.gateway().list_panes()}

        assert service.stop() == 0, service.recent_output()
        assert recorded(dirs["a1"]) == [] and recorded(dirs["a2"]) == [], "delivered before the service stopped"

        panes = {p.pane_id: p for p in service.gateway().list_panes()}
        assert {a["tmux_pane_id"] for a in before.values()} <= set(panes), (before, panes)
        assert all(not panes[a["tmux_pane_id"]].dead for a in before.values()), panes
        assert {pane: panes[pane].pid for pane in panes_before} == panes_before
        refused = service.cli("agent", "send", "keep:a1", "echo never >>got.log", "--wait", "0")
        assert refused.returncode == 1 and "cannot reach the service" in refused.stderr, (refused.returncode,
                                                                                          refused.stderr)
        wait_for(lambda: datetime.now(timezone.utc) > max(due(m) for m in queued), timeout=30,
                 message="the scheduled messages to fall due while the service is down")

        service.start()
        http = Http(service.base_url, service.token)
        for message in queued:
            final = wait_for(lambda: message_final(http, message["id"]), timeout=90, message=f"message {message['id']}",
                             describe=service.recent_output)
            assert final["status"] == "delivered", (final, service.recent_output())
        wait_for(lambda: recorded(dirs["a1"]) == ["while-down-1", "while-down-2"], timeout=10,
                 message="the queued messages in a1's record", describe=lambda: recorded(dirs["a1"]))
        assert recorded(dirs["a0"]) == ["before-stop"]
        assert recorded(dirs["a2"]) == ["check-in"]
        wait_for(lambda: all_idle(http), timeout=30, interval=0.5, message="the agents idle again",
                 describe=lambda: agents(http))
        after = agents(http)
        assert {n: {k: a[k] for k in KEPT} for n, a in after.items()} == \
               {n: {k: a[k] for k in KEPT} for n, a in before.items()}
        assert {p.pane_id: p.pid for p in service.gateway().list_panes()} == panes_before
        for name in NAMES:
            status, body = http.call("GET", f"/agents/status?target=keep:{name}&include_activity=true")
            assert status == 200 and not [line for line in body["data"]["activity_summary"]
                                          if "-> crashed" in line or "-> starting" in line], body
        assert not http.server_errors and not http.connection_errors, (http.server_errors, http.connection_errors)
    finally:
        service.close()
