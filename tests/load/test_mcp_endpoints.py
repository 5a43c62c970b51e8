"""Load on a running TMUX Orchestrator's REST API and /mcp, for Locust.

    TMUX_ORC_TOKEN=tmo_... locust -f tests/load/test_mcp_endpoints.py --host http://127.0.0.1:8000
    locust -f tests/load/test_mcp_endpoints.py --host ... --headless -u 20 -r 10 -t 30s --csv out/load

The token is TMUX_ORC_TOKEN's, or else the one in the data directory (`var/api_token`, or
TMUX_ORC_DATA_DIR's). Before the users start, a team of shell agents (`bash`, the profile
"shell") is deployed on the service (`--team load`, `--agents 4`, in `--project-path`, which
must exist on the service's machine) and a few tasks are created for it, so that messages
are really typed into panes. Then:

- operators (the REST API, as a person's token): the agent list, an agent's status, the
  tasks and one task, the system status, the team; messages sent to the team's agents and
  their status polled; broadcasts to the team;
- MCP clients (Streamable HTTP at /mcp): initialize, tools/list, and tools/call of read
  tools (agents_list, agents_status, monitor_status).

A request fails unless it answers 2xx with `"success": true` (REST), or a JSON-RPC result
that is no tool error (MCP); a message whose status comes back `failed` or `expired` fails
its poll. At the end the team is torn down, unless it was there before or `--keep-team`.

This is no pytest module (tests/load/conftest.py keeps pytest out: importing locust patches
the process with gevent). bench/load.py runs it against `bin/run` and prints the figures;
tests/test_load_smoke.py is its bounded run in CI.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path

if "pytest" in sys.modules and "locust" not in sys.modules:  # named on pytest's command line
    import pytest

    pytest.skip("a Locust file, not tests: run it with locust -f (tests/test_load_smoke.py does)",
                allow_module_level=True)

import requests  # noqa: E402
from locust import FastHttpUser, events, task  # noqa: E402
from locust.runners import WorkerRunner  # noqa: E402

log = logging.getLogger("load")
ROLES = ("pm", "developer", "qa", "developer", "devops", "reviewer")
TASKS = 3
FINAL_BAD = {"failed", "expired"}
READ_TOOLS = ("agents_list", "agents_status", "monitor_status")
MCP_ACCEPT = "application/json, text/event-stream"
SETUP_TIMEOUT = 180.0  # seconds for the team to be up and idle


class Fleet:
    """What the users work on: the team's agents and tasks, set up once per run."""

    team = ""
    targets: list[str] = []
    task_ids: list[int] = []
    deployed_here = False


@events.init_command_line_parser.add_listener
def _options(parser):
    parser.add_argument("--team", default="load", help="the team of shell agents the load is aimed at")
    parser.add_argument("--agents", type=int, default=4, help="its members (at most 20)")
    parser.add_argument("--project-path", default=tempfile.gettempdir(),
                        help="the team's project directory, on the service's machine")
    parser.add_argument("--keep-team", action="store_true", help="do not tear the team down at the end")
    parser.add_argument("--think-time", type=float, default=1.0,
                        help="seconds each user waits between requests, on average (0: none)")


def token() -> str:
    if os.environ.get("TMUX_ORC_TOKEN"):
        return os.environ["TMUX_ORC_TOKEN"]
    path = Path(os.environ.get("TMUX_ORC_DATA_DIR", "var")) / "api_token"
    if path.exists():
        return path.read_text().strip()
    raise SystemExit("load: set TMUX_ORC_TOKEN to an API token (tmux-orc token create load)")


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {token()}", "Content-Type": "application/json"}


# -- set-up and tear-down, once per run (on the master, or the one local process) -----------------
@events.init.add_listener
def _set_up_early(environment, **_):
    """With --host given, before the users start (and before -t counts)."""
    if environment.host and not isinstance(environment.runner, WorkerRunner):
        set_up(environment)


@events.test_start.add_listener
def _set_up_late(environment, **_):
    """Without --host (the web UI asks for it), or on a worker of a distributed run, which
    finds the team the master deployed."""
    if not Fleet.targets:
        set_up(environment, deploy=not isinstance(environment.runner, WorkerRunner))


@events.quitting.add_listener
def _tear_down(environment, **_):
    if Fleet.deployed_here and not environment.parsed_options.keep_team:
        call(environment.host, "POST", f"/teams/{Fleet.team}/teardown")
        log.info("team %s torn down", Fleet.team)


def call(host: str, method: str, path: str, payload: dict | None = None) -> tuple[int, dict]:
    """A request outside the measured load (set-up, tear-down)."""
    response = requests.request(method, f"{host.rstrip('/')}{path}", json=payload, headers=headers(), timeout=120)
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, {"error_message": response.text[:300]}


def set_up(environment, deploy: bool = True) -> None:
    options, host = environment.parsed_options, environment.host
    Fleet.team = options.team
    if deploy:
        deploy_team(host, options.team, options.agents, options.project_path)
    Fleet.targets = wait_for_idle_team(host, options.team)
    Fleet.task_ids = tasks_of(host, options.team)
    log.info("team %s: %s idle; tasks %s", options.team, ", ".join(Fleet.targets), Fleet.task_ids)


def deploy_team(host: str, team: str, agents: int, project_path: str) -> None:
    members = [{"role": ROLES[i % len(ROLES)], "briefing": "# a load-test agent", "profile": "shell"}
               for i in range(agents)]
    status, body = call(host, "POST", "/coordination/deploy-team",
                        {"project_name": team, "project_path": project_path, "team_members": members})
    if status in (201, 202):
        Fleet.deployed_here = True
    elif status != 409:  # 409: deployed already; the load uses it as it is
        raise SystemExit(f"load: deploying team {team} answered {status}: {body.get('error_message')}")


def wait_for_idle_team(host: str, team: str) -> list[str]:
    deadline, members = time.monotonic() + SETUP_TIMEOUT, []
    while time.monotonic() < deadline:
        status, body = call(host, "GET", f"/teams/{team}")
        members = body["data"]["team"]["members"] if status == 200 else []
        if others := [m["target"] for m in members if m["profile"] != "shell"]:
            raise SystemExit(f"load: team {team} has agents other than shell ones ({', '.join(others)}): "
                             "messages would be typed into them; choose another --team")
        if members and all(m["state"] == "idle" for m in members):
            return [m["target"] for m in members]
        time.sleep(0.5)  # polling the service, outside any test
    raise SystemExit(f"load: team {team} not idle after {SETUP_TIMEOUT:.0f} s: "
                     f"{[(m['target'], m['state']) for m in members]}")


def tasks_of(host: str, team: str) -> list[int]:
    """The team's load-test tasks, created the first time."""
    status, body = call(host, "GET", f"/tasks/list?team={team}&tag=load&limit={TASKS}")
    ids = [t["id"] for t in body["data"]["tasks"]] if status == 200 else []
    for i in range(len(ids), TASKS):
        status, body = call(host, "POST", "/tasks/create", {
            "title": f"Load-test task {i + 1}", "description": "Read over and over by the load test.",
            "team": team, "tags": ["load"], "priority": "low"})
        if status != 201:
            raise SystemExit(f"load: creating a task answered {status}: {body.get('error_message')}")
        ids.append(body["data"]["id"])
    return ids


# -- checks ----------------------------------------------------------------------------------------
def json_of(response) -> dict | None:
    """The body as a JSON object; None for anything else, or no answer at all."""
    if not response.text:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def failed(response, body: dict | None, key: str) -> None:
    """Mark the response failed, saying why: no answer, or its status and message."""
    if not response.status_code:  # a connection error: FastHttpUser's stand-in response
        response.failure(f"no answer: {response.error!r}")
    else:
        reason = body.get(key) if body is not None else (response.text or "")[:200]
        response.failure(f"{response.status_code}: {reason}")


def envelope(response) -> dict | None:
    """The envelope's data if the answer is a success; otherwise the response is marked failed."""
    body = json_of(response)
    if not 200 <= response.status_code < 300 or body is None or body.get("success") is not True:
        failed(response, body, "error_message")
        return None
    response.success()
    return body["data"]


def rpc_result(response) -> dict | None:
    """A JSON-RPC answer's result; anything else (an error, a tool error) fails the response."""
    body = json_of(response)
    if response.status_code != 200 or body is None or "result" not in body:
        failed(response, body, "error")
        return None
    if body["result"].get("isError"):
        response.failure(f"tool error: {body['result'].get('content')}")
        return None
    response.success()
    return body["result"]


# -- the users ---------------------------------------------------------------------------------
def think(user) -> float:
    """A user's pause between requests: half to one and a half times --think-time."""
    seconds = user.environment.parsed_options.think_time
    return random.uniform(0.5 * seconds, 1.5 * seconds)


class Operator(FastHttpUser):
    """A person at the REST API: mostly reads and polls, sometimes sends or broadcasts."""

    weight = 3
    wait_time = think
    numbers = itertools.count(1)

    def on_start(self) -> None:
        self.headers = headers()
        self.sent: list[int] = []  # ids of this user's messages, newest last

    def _get(self, path: str, name: str | None = None):
        with self.client.get(path, name=name or path, headers=self.headers, catch_response=True) as response:
            return envelope(response)

    def _post(self, path: str, payload: dict, name: str | None = None):
        with self.client.post(path, json=payload, name=name or path, headers=self.headers,
                              catch_response=True) as response:
            return envelope(response)

    @property
    def target(self) -> str:
        return random.choice(Fleet.targets)

    @task(4)
    def agent_list(self):
        self._get("/agents/list")

    @task(4)
    def agent_status(self):
        self._get(f"/agents/status?target={self.target}&include_activity=true", "/agents/status?target=[agent]")

    @task(2)
    def task_list(self):
        self._get(f"/tasks/list?team={Fleet.team}&limit=20", "/tasks/list?team=[team]")

    @task(1)
    def task_detail(self):
        self._get(f"/tasks/{random.choice(Fleet.task_ids)}", "/tasks/[id]")

    @task(3)
    def monitor_status(self):
        self._get("/monitor/status")

    @task(2)
    def team_status(self):
        self._get(f"/teams/{Fleet.team}", "/teams/[team]")

    @task(1)
    def history(self):
        self._get(f"/messages/history?target={self.target}&limit=20", "/messages/history?target=[agent]")

    @task(3)
    def send(self):
        # `:` is the shell's no-op: the agent runs it and is idle again at once.
        data = self._post("/messages/send", {"target": self.target, "message": f": load {next(self.numbers)}"})
        if data:
            self.sent = [*self.sent[-9:], data["id"]]

    @task(4)
    def message_status(self):
        if not self.sent:
            return self.send()
        with self.client.get(f"/messages/{random.choice(self.sent)}", name="/messages/[id]", headers=self.headers,
                             catch_response=True) as response:
            data = envelope(response)
            if data and data["status"] in FINAL_BAD:
                response.failure(f"message {data['id']} {data['status']}: {data['error']}")

    @task(1)
    def broadcast(self):
        self._post(f"/teams/{Fleet.team}/broadcast", {"message": f": load broadcast {next(self.numbers)}"},
                   "/teams/[team]/broadcast")


class McpClient(FastHttpUser):
    """An MCP client over Streamable HTTP: initializes, lists the tools, calls read tools."""

    weight = 1
    wait_time = think

    def on_start(self) -> None:
        self.headers = {**headers(), "Accept": MCP_ACCEPT}
        self.ids = itertools.count(1)
        self.initialize()

    def rpc(self, method: str, params: dict | None = None, name: str | None = None, lacks=None) -> dict | None:
        """The call's result; `lacks(result)` may name what is missing from it, which fails it."""
        payload = {"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": params or {}}
        with self.client.post("/mcp", json=payload, name=name or f"mcp {method}", headers=self.headers,
                              catch_response=True) as response:
            result = rpc_result(response)
            if result is not None and lacks and (missing := lacks(result)):
                response.failure(f"{method}: lacks {missing}")
            return result

    def notify(self, method: str) -> None:
        with self.client.post("/mcp", json={"jsonrpc": "2.0", "method": method}, name=f"mcp {method}",
                              headers=self.headers, catch_response=True) as response:
            if response.status_code != 202:
                failed(response, None, "")

    @task(1)
    def initialize(self):
        self.headers.pop("MCP-Protocol-Version", None)
        result = self.rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                         "clientInfo": {"name": "locust", "version": "1"}})
        if result:
            self.headers["MCP-Protocol-Version"] = result["protocolVersion"]
            self.notify("notifications/initialized")

    @task(1)
    def tools_list(self):
        self.rpc("tools/list", lacks=lambda result: ", ".join(
            sorted(set(READ_TOOLS) - {t["name"] for t in result["tools"]})))

    @task(6)
    def call_read_tool(self):
        name = random.choice(READ_TOOLS)
        arguments = {"target": random.choice(Fleet.targets)} if name == "agents_status" else {}
        self.rpc("tools/call", {"name": name, "arguments": arguments}, f"mcp tools/call {name}")
