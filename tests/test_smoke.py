"""The README's run command on the embedded default: SQLite and a broker with no server."""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import socket
import subprocess
import urllib.request

import pytest

from agents.gateway import Gateway
from bench.service import children_of, cmdline, role_of
from conftest import ROOT, TEST_CONFIG, wait_for
from tests.support import SERVICE_ENV, Output, free_port, stop

pytestmark = pytest.mark.smoke


def request(url: str, token: str, payload: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, headers={"Authorization": f"Bearer {token}",
                                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def answers(url: str) -> int | None:
    """The status of a GET, or None while the server does not answer (it is starting up)."""
    try:
        return request(url, "")[0]
    except (ConnectionError, urllib.error.URLError):
        return None


def metrics_page(url: str, token: str) -> str:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as response:
        return response.read().decode()


def mcp_send(url: str, token: str, target: str, text: str) -> dict:
    """messages_send through the MCP SDK's own client, over Streamable HTTP."""
    import asyncio

    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def send():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=90)
        async with Client(streamable_http_client(url, http_client=http), read_timeout_seconds=90) as client:
            result = await client.call_tool("messages_send", {"target": target, "message": text, "wait": 60})
            assert not result.is_error, result.content
            return result.structured_content

    return asyncio.run(send())


class Stream:
    """GET /monitor/stream, read in the background: the events that came so far."""

    def __init__(self, url: str, token: str):
        import threading
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        self.connection.request("GET", f"{parts.path}?{parts.query}", headers={"Authorization": f"Bearer {token}"})
        self.response = self.connection.getresponse()
        assert self.response.status == 200, self.response.read()
        self.events: list[dict] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        event = {}
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event["event"] = line[7:]
                elif line.startswith("data: "):
                    event["data"] = json.loads(line[6:])
                elif not line and event:
                    self.events.append(event)
                    event = {}
        except (OSError, ValueError, http.client.HTTPException):
            pass  # closed

    def close(self) -> None:
        """End the stream: the reader sees it end and stops, then the connection is closed."""
        self.connection.sock.shutdown(socket.SHUT_RDWR)
        self.reader.join(timeout=10)
        self.connection.close()


def test_run_command_starts_the_service_and_spawns_an_agent(tmp_path, monkeypatch):
    port, socket_name = free_port(), f"smoke-{secrets.token_hex(4)}"
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_ENV and not k.startswith("TMUX_ORC_")}
    env.update(TMUX_TMPDIR=str(tmp_path / "tmux"), TMUX_ORC_DATA_DIR=str(tmp_path / "data"),
               TMUX_ORC_PORT=str(port), TMUX_ORC_TMUX_SOCKET=socket_name, TMUX_ORC_WORKERS="2",
               TMUX_ORC_CONFIG=str(TEST_CONFIG))
    (tmp_path / "tmux").mkdir()
    monkeypatch.setenv("TMUX_TMPDIR", str(tmp_path / "tmux"))
    process = subprocess.Popen([str(ROOT / "bin" / "run")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = Output(process)
    try:
        wait_for(lambda: "Token:" in output.text or process.poll() is not None, timeout=180, message="the banner")
        assert process.poll() is None, output.text
        token = re.search(r"Token:\s+(\S+)", output.text).group(1)
        assert (tmp_path / "data" / "orchestrator.sqlite3").exists()
        base = f"http://127.0.0.1:{port}"

        status, body = request(f"{base}/agents/spawn", token, {
            "session_name": "smoke", "agent_type": "developer", "project_path": str(tmp_path), "profile": "shell",
        })

        assert status == 201, (body, output.text)
        pane_id = body["data"]["tmux_pane_id"]
        assert pane_id in {p.pane_id for p in Gateway(socket_name=socket_name).list_panes()}
        status, listed = request(f"{base}/agents/list", token)
        assert [a["target"] for a in listed["data"]] == ["smoke:Shell-developer"]
        assert request(f"{base}/agents/list", "wrong")[0] == 401
        # beat and the worker report in: the health check turns healthy by itself
        wait_for(lambda: answers(f"{base}/monitor/health") == 200, timeout=60, message="a healthy service",
                 describe=lambda: f"{request(f'{base}/monitor/health', '')}\n{output.text[-3000:]}")
        # the supervisor runs the four parts, the host's watcher among them
        roles = sorted(role_of(cmdline(pid)) for pid in children_of(process.pid))
        assert roles == ["beat", "watcher", "web", "worker"], roles
        # two web processes, one set of numbers
        metrics = [metrics_page(f"{base}/metrics", token) for _ in range(4)]
        assert all('tmux_orc_agents{state="starting"}' in m or 'tmux_orc_agents{state="idle"}' in m for m in metrics)
        assert all("django_http_requests_total_by_method_total" in m for m in metrics)
        # the same server speaks MCP at /mcp: a message sent through it is typed by the worker,
        # and a web process streams what the worker and the watcher, other processes, wrote
        stream = Stream(f"{base}/monitor/stream?target=smoke:Shell-developer", token)
        sent = mcp_send(f"{base}/mcp", token, "smoke:Shell-developer", "echo mcp-$((6*7))-smoke")
        assert sent["status"] == "delivered", (sent, output.text[-3000:])
        screen = lambda: Gateway(socket_name=socket_name).capture_panes([pane_id])[pane_id]  # noqa: E731
        wait_for(lambda: "mcp-42-smoke" in screen(), message="the MCP message's output", describe=screen)
        seen = lambda: [(e["event"], e["data"].get("status") or e["data"].get("to_state")) for e in stream.events]  # noqa: E731
        wait_for(lambda: {("message", "delivered"), ("state", "working"), ("state", "idle")} <= set(seen()),
                 timeout=15, message="the stream to tell", describe=seen)
        stream.close()

    finally:
        stop(process)
        Gateway(socket_name=socket_name).kill_server()
