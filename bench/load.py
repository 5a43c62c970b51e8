"""Load: Locust's users on the REST API and /mcp, and how fast each endpoint answers.

Run: .venv/bin/python bench/load.py [--users 50] [--spawn-rate 10] [--minutes 2] [--agents 4]
                                    [--think-time 1.0] [--host URL]

Starts the README's run command (`bin/run`, bench/service.py: the embedded default in a
temporary directory, a private tmux server, a free port), or with --host uses a service
already running (the token from TMUX_ORC_TOKEN). Runs the Locust file
tests/load/test_mcp_endpoints.py headless, in a process of its own (locust patches its
process with gevent): it deploys a team of shell agents, then its users read, poll, send to
the team's agents, broadcast to the team and call /mcp. Afterwards it waits for the messages
to be typed and prints, per endpoint, requests, failures, requests per second and
p50/p95/p99 from Locust's CSV stats, the failures, and the messages by status (from
/metrics). Asserts nothing: tests/test_load_smoke.py runs the same for 30 s with 20 users and
fails on any problem.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.service import ROOT, Service, ServiceError, wait_until  # noqa: E402

LOCUSTFILE = ROOT / "tests" / "load" / "test_mcp_endpoints.py"
LOCUST = Path(sys.executable).with_name("locust")
TEAM = "load"
PENDING = ("queued", "delivering")
MESSAGES = re.compile(r'^tmux_orc_messages\{status="(\w+)"\} ([0-9.e+]+)$', re.MULTILINE)


@dataclass
class Row:
    """One line of Locust's stats: an endpoint (or the aggregate), times in milliseconds."""

    method: str
    name: str
    requests: int
    failures: int
    rps: float
    p50: float | None
    p95: float | None
    p99: float | None

    @classmethod
    def of(cls, line: dict) -> Row:
        ms = lambda text: None if text in ("", "N/A") else float(text)  # noqa: E731
        return cls(line["Type"], line["Name"], int(line["Request Count"]), int(line["Failure Count"]),
                   float(line["Requests/s"]), ms(line["50%"]), ms(line["95%"]), ms(line["99%"]))

    def __str__(self) -> str:
        ms = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
        return (f"  {self.method:5} {self.name:36} {self.requests:7} {self.failures:6} {self.rps:8.1f} "
                f"{ms(self.p50):>6} {ms(self.p95):>6} {ms(self.p99):>6}")


@dataclass
class Figures:
    users: int = 0
    seconds: float = 0.0
    agents: int = 0
    rows: list[Row] = field(default_factory=list)  # per endpoint
    total: Row | None = None
    failures: list[str] = field(default_factory=list)  # from Locust's failures CSV, each with its count
    exceptions: list[str] = field(default_factory=list)  # errors in the Locust file itself
    exit_code: int | None = None
    output: str = ""  # Locust's
    messages: dict[str, int] = field(default_factory=dict)  # the service's messages by status, after settling

    def accepted(self, name: str) -> int:
        return sum(r.requests - r.failures for r in self.rows if r.name == name)

    @property
    def sent(self) -> int:
        """Messages the load queued: one per send, one per member per broadcast."""
        return self.accepted("/messages/send") + self.agents * self.accepted("/teams/[team]/broadcast")

    def problems(self) -> list[str]:
        """What went wrong, in words; empty when nothing did."""
        found = [f"{len(items)} {what}:\n    " + "\n    ".join(items[:20])
                 for what, items in (("kinds of failed requests", self.failures),
                                     ("errors in the Locust file", self.exceptions)) if items]
        if self.exit_code != 0:
            found.append(f"locust exited with status {self.exit_code}")
        if self.total is None or not self.total.requests:
            found.append("no request was made")
        pending = {s: n for s, n in self.messages.items() if s in PENDING and n}
        if pending:
            found.append(f"messages still waiting to be typed: {pending}")
        if bad := {s: n for s, n in self.messages.items() if s in ("failed", "expired") and n}:
            found.append(f"messages not delivered: {bad}")
        if self.messages.get("delivered", 0) < self.sent:
            found.append(f"{self.sent} messages sent, {self.messages.get('delivered', 0)} delivered")
        return found

    def report(self) -> str:
        head = f"  {'':5} {'endpoint':36} {'reqs':>7} {'fails':>6} {'req/s':>8} {'p50':>6} {'p95':>6} {'p99':>6}  (ms)"
        return "\n".join([
            f"load: {self.users} users for {self.seconds:.0f} s on a team of {self.agents} shell agents "
            f"({os.cpu_count()} cores)", head, *map(str, self.rows),
            *([str(replace(self.total, method="", name="all"))] if self.total else []),
            f"  messages sent: {self.sent}; the service's messages by status: {self.messages}",
        ])


def run_locust(base_url: str, token: str, *, users: int, spawn_rate: float, seconds: float, workdir: Path,
               agents: int = 4, think_time: float = 1.0, keep_team: bool = True) -> Figures:
    """Locust headless against `base_url` for `seconds`; the figures from its CSV stats."""
    project = workdir / "load-project"  # the team's project: on this machine, as the service is
    project.mkdir(parents=True, exist_ok=True)
    prefix = workdir / "locust"
    command = [str(LOCUST), "-f", str(LOCUSTFILE), "--headless", "--host", base_url, "-u", str(users),
               "-r", str(spawn_rate), "-t", f"{seconds:.0f}s", "--csv", str(prefix), "--only-summary",
               "--exit-code-on-error", "1", "--team", TEAM, "--agents", str(agents),
               "--project-path", str(project), "--think-time", str(think_time), *(["--keep-team"] * keep_team)]
    env = {**os.environ, "TMUX_ORC_TOKEN": token}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds + 300)
    figures = Figures(users=users, seconds=seconds, agents=agents, exit_code=done.returncode,
                      output=done.stdout + done.stderr)
    stats = _rows(f"{prefix}_stats.csv")
    figures.rows = [Row.of(line) for line in stats if line["Name"] != "Aggregated"]
    figures.total = next((Row.of(line) for line in stats if line["Name"] == "Aggregated"), None)
    figures.failures = [f"{f['Occurrences']} x {f['Method']} {f['Name']}: {f['Error']}"
                        for f in _rows(f"{prefix}_failures.csv")]
    figures.exceptions = [f"{e['Count']} x {e['Message']}\n{e['Traceback']}" for e in _rows(f"{prefix}_exceptions.csv")]
    return figures


def _rows(path: str) -> list[dict]:
    if not Path(path).exists():
        return []
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def messages_by_status(base_url: str, token: str) -> dict[str, int]:
    """Every message of the service by status, as /metrics counts them."""
    req = urllib.request.Request(f"{base_url}/metrics", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as response:
        text = response.read().decode()
    return {status: int(float(n)) for status, n in MESSAGES.findall(text)}


def settle(figures: Figures, base_url: str, token: str, timeout: float) -> None:
    """Wait (up to `timeout` s) until no message is waiting to be typed; keep the counts."""
    def typed() -> bool:
        figures.messages = messages_by_status(base_url, token)
        return not any(figures.messages.get(s) for s in PENDING)

    try:
        wait_until(typed, timeout, "the messages to be typed", interval=0.5)
    except ServiceError:
        pass  # the figures say what is still waiting


def load(base_url: str, token: str, *, users: int, spawn_rate: float, seconds: float, workdir: Path,
         agents: int = 4, think_time: float = 1.0, keep_team: bool = True, settle_for: float = 60) -> Figures:
    """The Locust run, then up to `settle_for` s for its messages to be typed. Asserts
    nothing: `Figures.problems()` says what went wrong."""
    figures = run_locust(base_url, token, users=users, spawn_rate=spawn_rate, seconds=seconds, workdir=workdir,
                         agents=agents, think_time=think_time, keep_team=keep_team)
    settle(figures, base_url, token, settle_for)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=10, help="users started per second")
    parser.add_argument("--minutes", type=float, default=2)
    parser.add_argument("--agents", type=int, default=4, help="shell agents in the team the load is aimed at")
    parser.add_argument("--think-time", type=float, default=1.0, help="seconds between a user's requests (0: none)")
    parser.add_argument("--host", help="a running service (token: TMUX_ORC_TOKEN) instead of starting bin/run")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tmux-orc-load-"))
    service = None
    try:
        if args.host:
            base_url, token = args.host.rstrip("/"), os.environ.get("TMUX_ORC_TOKEN", "")
            if not token:
                raise SystemExit("bench/load.py: --host needs TMUX_ORC_TOKEN")
        else:
            service = Service(workdir)
            service.start()
            base_url, token = service.base_url, service.token
        print(f"[{time.strftime('%H:%M:%S')}] {args.users} users for {args.minutes} min on {base_url}", flush=True)
        figures = load(base_url, token, users=args.users, spawn_rate=args.spawn_rate, seconds=args.minutes * 60,
                       workdir=workdir, agents=args.agents, think_time=args.think_time, keep_team=service is not None)
        print(figures.report())
        problems = figures.problems()
        print("problems:\n  " + "\n  ".join(problems) if problems else "no problems")
        if problems:
            print(figures.output[-4000:])
            if service:
                print(service.recent_output(40))
    finally:
        if service:
            service.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
