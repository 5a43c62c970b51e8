"""Two agent hosts on one machine: each in a network namespace of its own (ip netns and a veth
pair), with its own worker, host name, tmux server and queue `host.<name>`. The web server,
beat, PostgreSQL and Redis stay in the main namespace; the workers reach PostgreSQL and Redis
over the veth addresses (socat forwards those to the loopback services). The test makes the
namespaces and removes them."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from conftest import ROOT, TEST_CONFIG, wait_for
from tests.support import SERVICE_ENV, Output, database_url_of_tests, free_port, stop
from tests.test_smoke import answers, request

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
INTERVAL = "1"  # seconds between sweeps: a silent worker counts as down after 3 of them and 10 s


def _run(*command: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=check, timeout=30)


def _why_not() -> str | None:
    """Why this machine cannot run the test, or None."""
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        return "needs PostgreSQL and Redis shared by every host (DATABASE_URL, REDIS_URL), as .ci/run sets them"
    for program in ("ip", "socat", "tmux"):
        if shutil.which(program) is None:
            return f"needs {program} (.ci/run installs it)"
    probe = f"orc-probe-{secrets.token_hex(3)}"
    made = _run("ip", "netns", "add", probe, check=False)
    if made.returncode:
        return f"cannot create a network namespace here: {made.stderr.strip()}"
    _run("ip", "netns", "del", probe, check=False)
    return None


@dataclass
class Host:
    name: str
    namespace: str
    outside: str  # the main namespace's end of the veth pair
    inside: str  # the host's end
    tmux_socket: str
    tmux_tmpdir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)

    def inside_run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run("ip", "netns", "exec", self.namespace, *command, check=check)

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.inside_run("env", f"TMUX_TMPDIR={self.tmux_tmpdir}", "tmux", "-L", self.tmux_socket, *args,
                               check=check)


class Network:
    """The namespaces, their veth pairs and the forwarders, removed again by `remove`."""

    def __init__(self, tmp_path: Path):
        tag = secrets.token_hex(3)
        net = f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(256)}"
        self.hosts = [Host(f"h{n}-{tag}", f"orc-{tag}-{n}", f"{net}.{4 * n - 3}", f"{net}.{4 * n - 2}",
                           f"orc-{tag}-{n}", tmp_path / f"tmux-{n}") for n in (1, 2)]
        self.forwarders: list[subprocess.Popen] = []
        for n, host in enumerate(self.hosts, 1):
            outer, inner = f"orc{tag}{n}o", f"orc{tag}{n}i"
            _run("ip", "netns", "add", host.namespace)
            _run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            _run("ip", "link", "set", inner, "netns", host.namespace)
            _run("ip", "addr", "add", f"{host.outside}/30", "dev", outer)
            _run("ip", "link", "set", outer, "up")
            host.inside_run("ip", "addr", "add", f"{host.inside}/30", "dev", inner)
            host.inside_run("ip", "link", "set", inner, "up")
            host.inside_run("ip", "link", "set", "lo", "up")
            host.tmux_tmpdir.mkdir()

    def forward(self, target: str) -> str:
        """Make `target` (a URL on loopback) reachable from every host at its veth address;
        the URL the hosts use (their own outside address, the same port)."""
        parts = urlsplit(target)
        port = parts.port
        for host in self.hosts:
            process = subprocess.Popen(["socat", f"TCP-LISTEN:{port},bind={host.outside},reuseaddr,fork",
                                        f"TCP:{parts.hostname}:{port}"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
            self.forwarders.append(process)
            wait_for(lambda: host.inside_run("bash", "-c", f"exec 3<>/dev/tcp/{host.outside}/{port}",
                                             check=False).returncode == 0, timeout=10,
                     message=f"port {port} from {host.name}")
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(parts.hostname, "{address}", 1)))

    def remove(self) -> None:
        for host in self.hosts:
            for process in host.processes:
                stop(process)
            host.tmux("kill-server", check=False)
        for process in self.forwarders:
            stop(process, timeout=5)
        for host in self.hosts:
            _run("ip", "netns", "del", host.namespace, check=False)  # and its end of the veth pair with it


@pytest.fixture
def network(tmp_path):
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    made = Network(tmp_path)
    try:
        yield made
    finally:
        made.remove()


def _env(tmp_path: Path, name: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_ENV and not k.startswith("TMUX_ORC_")}
    env.update(TMUX_ORC_DATA_DIR=str(tmp_path / f"data-{name}"), TMUX_ORC_CONFIG=str(TEST_CONFIG),
               TMUX_ORC_HEALTH_CHECK_INTERVAL=INTERVAL, TMUX_ORC_AGENT_MCP="false", **extra)
    return env


def _start(command: list[str], env: dict, outputs: list[Output], until: str) -> subprocess.Popen:
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    output = Output(process)
    outputs.append(output)
    wait_for(lambda: until in output.text or process.poll() is not None, timeout=120, message=f"'{until}'",
             describe=lambda: output.text[-3000:])
    assert process.poll() is None, output.text
    return process


def start_worker(host: Host, tmp_path: Path, database: str, redis: str) -> None:
    env = _env(tmp_path, host.name, DATABASE_URL=database.format(address=host.outside),
               REDIS_URL=redis.format(address=host.outside), TMUX_ORC_AGENT_HOST=host.name,
               TMUX_ORC_TMUX_SOCKET=host.tmux_socket, TMUX_TMPDIR=str(host.tmux_tmpdir))
    command = ["ip", "netns", "exec", host.namespace, sys.executable, "-m", "orchestrator.cli",
               "server", "start", "--only", "worker"]
    host.processes.append(_start(command, env, host.outputs, until="Press Ctrl-C to stop."))


def netns_of(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def test_two_hosts_each_run_their_agents_and_one_going_down_leaves_its_agents_waiting(network, tmp_path):
    database, redis = network.forward(database_url_of_tests()), network.forward(os.environ["REDIS_URL"])
    port, main_outputs = free_port(), []
    web = _start([sys.executable, "-m", "orchestrator.cli", "server", "start", "--only", "web", "--only", "beat",
                  "--host", "127.0.0.1", "--port", str(port)],
                 _env(tmp_path, "web", DATABASE_URL=database_url_of_tests(), REDIS_URL=os.environ["REDIS_URL"],
                      TMUX_ORC_WORKERS="2"), main_outputs, until="Token:")
    token = re.search(r"Token:\s+(\S+)", main_outputs[0].text).group(1)
    base = f"http://127.0.0.1:{port}"
    one, two = network.hosts
    try:
        for host in network.hosts:
            start_worker(host, tmp_path, database, redis)

        def api(path: str, payload: dict | None = None) -> dict:
            status, body = request(base + path, token, payload)
            assert body["success"], (status, body)
            return body["data"]

        hosts = {row["host"]: row for row in api("/monitor/hosts")}
        assert hosts[one.name]["worker_alive"] and hosts[two.name]["worker_alive"]

        # an agent on each host, in that host's namespace and tmux server
        agents = {}
        for host in network.hosts:
            agent = api("/agents/spawn", {"session_name": "solo", "agent_type": "developer", "name": host.name,
                                          "project_path": str(tmp_path), "profile": "shell", "host": host.name})
            assert agent["host"] == host.name
            inside = host.inside_run("readlink", "/proc/self/ns/net").stdout.strip()
            assert netns_of(agent["pane_pid"]) == inside != netns_of(os.getpid())
            assert agent["tmux_pane_id"] in host.tmux("list-panes", "-a", "-F", "#{pane_id}").stdout.split()
            agents[host.name] = agent

        def state(target: str) -> dict:
            return api(f"/agents/status?target={target}")

        for agent in agents.values():
            wait_for(lambda: state(agent["target"])["state"] == "idle", timeout=60, message=f"{agent['target']} idle")

        # a message to each is typed in its own pane
        for host in network.hosts:
            sent = api("/messages/send?wait=30", {"target": agents[host.name]["target"],
                                                  "message": f"echo from-{host.name}"})
            assert sent["status"] == "delivered", sent
            pane = agents[host.name]["tmux_pane_id"]
            wait_for(lambda: f"\nfrom-{host.name}" in host.tmux("capture-pane", "-p", "-t", pane).stdout,
                     message=f"the output on {host.name}")

        # a team across both: auto places each member on the live host with the fewest agents
        team = api("/coordination/deploy-team", {
            "project_name": "duo", "project_path": str(tmp_path), "host": "auto",
            "team_members": [{"role": "pm", "profile": "shell"}, {"role": "developer", "profile": "shell"}]})
        assert sorted(m["host"] for m in team["team"]["members"]) == sorted([one.name, two.name])
        wait_for(lambda: answers(base + "/monitor/health") == 200, timeout=40, message="a healthy service",
                 describe=lambda: str(request(base + "/monitor/health", "")))
        health = api("/monitor/health")
        assert {one.name, two.name} <= {h for h, row in health["agent_hosts"].items() if row["worker_alive"]}
        status = api("/monitor/status")
        assert status["hosts"][one.name] == 2 and status["hosts"][two.name] == 2 and status["hosts_down"] == []

        # host two's worker stops: its agents are on a host that is down, not crashed, not moved
        stop(two.processes[-1])
        wait_for(lambda: not {r["host"]: r for r in api("/monitor/hosts")}[two.name]["worker_alive"], timeout=40,
                 message=f"{two.name} reported down")
        before = state(agents[two.name]["target"])
        assert before["host_down"] is True and before["state"] == "idle" and before["host"] == two.name
        assert state(agents[one.name]["target"])["host_down"] is False
        status = api("/monitor/status")
        assert status["hosts_down"] == [two.name] and status["hosts"][two.name] == 2
        _, refused = request(base + "/agents/spawn", token, {
            "session_name": "solo", "agent_type": "qa", "project_path": str(tmp_path), "profile": "shell",
            "host": two.name})
        assert refused["error_message"] == f"host: the worker of host {two.name} is not alive; live hosts: {one.name}"
        waiting = api("/messages/send", {"target": agents[two.name]["target"], "message": "echo after-the-return"})
        assert waiting["status"] == "queued", waiting
        on_one = api("/agents/list?session_name=solo")
        assert {a["target"]: a["host"] for a in on_one} == {a["target"]: a["host"] for a in agents.values()}
        _, health = request(base + "/monitor/health", "")
        assert health["data"]["checks"]["workers"].startswith(f"failed: {two.name}: last sweep")

        # it comes back: the message goes in, the agent is as it was
        start_worker(two, tmp_path, database, redis)
        message = wait_for(lambda: (m := api(f"/messages/{waiting['id']}"))["status"] == "delivered" and m,
                           timeout=60, message="the waiting message delivered")
        assert message["status"] == "delivered"
        pane = agents[two.name]["tmux_pane_id"]
        wait_for(lambda: "\nafter-the-return" in two.tmux("capture-pane", "-p", "-t", pane).stdout,
                 message="the waiting message's output")
        after = state(agents[two.name]["target"])
        assert after["host_down"] is False and after["restart_count"] == before["restart_count"] == 0
        wait_for(lambda: answers(base + "/monitor/health") == 200, timeout=40, message="healthy again",
                 describe=lambda: str(request(base + "/monitor/health", "")))
    finally:
        stop(web)
