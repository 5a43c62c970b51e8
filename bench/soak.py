"""Soak: the whole service under load for minutes, and whether every message arrived once.

Run: .venv/bin/python bench/soak.py [--minutes 10] [--agents 20] [--messages N] [--burst 50]
                                    [--kill-worker 0]

Starts the README's run command (`bin/run`) on the embedded default (SQLite and the
filesystem broker in a temporary data directory, a private tmux server, a free port;
no DATABASE_URL or REDIS_URL), spawns shell agents and sends them messages in bursts of
concurrent requests, spawns and kills other agents, and reads status all the while;
`--kill-worker N` also SIGKILLs the Celery worker N times, spaced out. Each message is a
shell command that appends its own id to a file in its agent's directory, so a message
typed twice shows up twice and a lost one never. Prints the figures (messages per second,
delivery latency p50/p99, restarts, 5xx answers, lost and doubled messages) and removes
everything at the end. tests/test_soak.py runs the same driver for three minutes and
asserts on the figures.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.service import Http, Service, ServiceError, wait_until  # noqa: E402

SESSION, CHURN_SESSION = "soak", "churn"
RECORD = "got.log"  # in each agent's project directory
RECORDED = re.compile(r"\bsoak-(\d+)\b")
FINAL = {"delivered", "failed", "expired", "cancelled"}
HISTORY_LIMIT = 500  # the API's most
WORKER_RUNS = 15.0  # seconds a new worker runs before the next kill


@dataclass
class Sent:
    number: int
    target: str
    message_id: int | None = None
    status: str = "not sent"
    created_at: datetime | None = None
    delivered_at: datetime | None = None
    error: str = ""  # why it was not delivered, and the steps its row records

    def __str__(self) -> str:
        return f"soak-{self.number} (message {self.message_id} to {self.target}): {self.status} {self.error}".strip()


@dataclass
class Figures:
    seconds: float = 0.0
    agents: int = 0
    sent: int = 0
    send_refused: list[str] = field(default_factory=list)  # sends not answered 201
    by_status: dict[str, int] = field(default_factory=dict)
    not_delivered: list[str] = field(default_factory=list)  # each with its status and why
    typed_twice: list[int] = field(default_factory=list)
    never_typed: list[int] = field(default_factory=list)  # accepted, and not in its agent's record
    status_wrong: list[str] = field(default_factory=list)  # the API and the pane's record disagree
    strays: list[str] = field(default_factory=list)  # recorded in the wrong agent's file, or unknown
    messages_per_second: float = 0.0
    latency_p50: float | None = None
    latency_p99: float | None = None
    requests: int = 0
    status_reads: int = 0
    server_errors: list[str] = field(default_factory=list)
    connection_errors: list[str] = field(default_factory=list)
    unhealthy_readings: int = 0
    churn: Counter = field(default_factory=Counter)  # spawn/kill answers by status
    worker_kills: int = 0
    worker_restarts_seen: int = 0
    kill_problems: list[str] = field(default_factory=list)
    children_before: dict[int, str] = field(default_factory=dict)
    children_after: dict[int, str] = field(default_factory=dict)
    child_exits: list[str] = field(default_factory=list)  # the service's output saying a process ended
    reported_restarts: dict[str, int] | None = None  # process -> restarts, if /monitor/health says

    @property
    def delivered(self) -> int:
        return self.by_status.get("delivered", 0)

    def problems(self) -> list[str]:
        """What went wrong, in words; empty when nothing did."""
        lists = {"sends not accepted": self.send_refused, "not delivered": self.not_delivered,
                 "typed more than once": self.typed_twice, "never typed": self.never_typed,
                 "with a status the pane contradicts": self.status_wrong, "recorded in the wrong place": self.strays,
                 "5xx answers": self.server_errors, "requests without an answer": self.connection_errors,
                 "failed worker kills": self.kill_problems}
        found = [f"{len(items)} {what}: {items[:5]}" for what, items in lists.items() if items]
        # Only the killed worker may have changed; web and beat ran throughout.
        kept = {pid: role for pid, role in self.children_before.items() if not (self.worker_kills and role == "worker")}
        if any(self.children_after.get(pid) != role for pid, role in kept.items()) or \
                sorted(self.children_after.values()) != sorted(self.children_before.values()):
            found.append(f"the service's processes were {self.children_before}, at the end {self.children_after}")
        if not self.worker_kills and self.child_exits:
            found.append(f"the service said a process ended: {self.child_exits[:5]}")
        expected = {"worker": self.worker_kills}
        if self.reported_restarts and any(n != expected.get(p, 0) for p, n in self.reported_restarts.items()):
            found.append(f"/monitor/health reports restarts {self.reported_restarts} "
                         f"after {self.worker_kills} kills of the worker")
        return found

    def report(self) -> str:
        latency = lambda v: "-" if v is None else f"{v:.2f} s"  # noqa: E731
        restarts = "not reported" if self.reported_restarts is None else self.reported_restarts
        return "\n".join([
            f"soak: {self.sent} messages to {self.agents} shell agents in {self.seconds:.0f} s",
            f"  delivered:            {self.delivered} ({self.messages_per_second:.1f} messages/s)",
            f"  by status:            {self.by_status}",
            f"  delivery latency:     p50 {latency(self.latency_p50)}, p99 {latency(self.latency_p99)}",
            f"  typed twice / never:  {len(self.typed_twice)} / {len(self.never_typed)}"
            f" ({len(self.status_wrong)} with a status the pane contradicts)",
            f"  requests:             {self.requests} ({self.status_reads} status reads), "
            f"{len(self.server_errors)} 5xx, {len(self.connection_errors)} unanswered, "
            f"{self.unhealthy_readings} unhealthy health checks",
            f"  spawn/kill churn:     {dict(self.churn)}",
            f"  worker kills:         {self.worker_kills} (a new worker seen after {self.worker_restarts_seen})",
            f"  restarts (service):   {restarts}",
            f"  processes:            {self.children_before} -> {self.children_after}",
        ])


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _percentile(values: list[float], fraction: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else None


def restarts_by_process(health: dict | None) -> dict[str, int] | None:
    """What GET /monitor/health says the supervisor restarted (`restarts`: host -> process ->
    count), added up over hosts; None if it does not say."""
    if not isinstance(health, dict) or not isinstance(health.get("restarts"), dict):
        return None
    totals: Counter = Counter()
    for processes in health["restarts"].values():
        totals.update(processes)
    return dict(totals)


class Soak:
    """One run of the load against a started service; `run()` returns its figures."""

    def __init__(self, service: Service, *, duration: float, agents: int, messages: int, burst: int,
                 kill_worker_times: int, churn_every: float, settle: float, log):
        self.service, self.http = service, Http(service.base_url, service.token)
        self.duration, self.agents, self.messages, self.burst = duration, agents, messages, burst
        self.kill_worker_times, self.churn_every, self.settle, self.log = kill_worker_times, churn_every, settle, log
        self.targets = [f"{SESSION}:a{i:02d}" for i in range(agents)]
        self.sent = [Sent(n, self.targets[n % agents]) for n in range(messages)]
        self.figures = Figures(agents=agents, sent=messages)
        self.done = threading.Event()
        self.started = time.monotonic()

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> Figures:
        self._spawn_agents()
        output_from = len(self.service.lines)
        self.figures.children_before = self.service.children()
        alongside = [threading.Thread(target=self._read_status, daemon=True),
                     threading.Thread(target=self._churn, daemon=True)]
        killer = threading.Thread(target=self._kill_workers, daemon=True)
        self.started = time.monotonic()
        for thread in alongside + ([killer] if self.kill_worker_times else []):
            thread.start()
        try:
            self._send_bursts()
            if self.kill_worker_times:
                killer.join()  # every kill falls during the load: before the last message is final
            self._settle()
            # The load lasts the whole duration, however quickly the messages went in.
            wait_until(lambda: self.elapsed >= self.duration, self.duration + 1, "the end of the load")
        finally:
            self.done.set()
            for thread in alongside:
                thread.join(timeout=120)
        self.figures.seconds = self.elapsed
        self.figures.children_after = self.service.children()
        self.figures.child_exits = self.service.child_exits(output_from)
        self._tally()
        return self.figures

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _log(self, text: str) -> None:
        self.log(f"{self.elapsed:5.0f} s  {text}")

    def _spawn_agents(self) -> None:
        """The shell agents that get the counted messages, each in a directory of its own, idle."""
        def spawn(target: str) -> None:
            name = target.split(":")[1]
            path = self.service.workdir / "agents" / name
            path.mkdir(parents=True, exist_ok=True)
            status, body = self.http.call("POST", "/agents/spawn", {
                "session_name": SESSION, "name": name, "agent_type": "developer", "project_path": str(path),
                "profile": "shell", "briefing_message": "# soak agent"})
            if status not in (201, 202):
                raise ServiceError(f"spawn of {target}: {status} {body}\n{self.service.recent_output()}")

        with ThreadPoolExecutor(max_workers=4) as pool:  # under max_concurrent_spawns (10)
            list(pool.map(spawn, self.targets))

        def all_idle() -> bool:
            status, body = self.http.call("GET", f"/agents/list?session_name={SESSION}")
            return status == 200 and sum(a["state"] == "idle" for a in body["data"]) == self.agents

        wait_until(all_idle, 180, f"{self.agents} idle shell agents", interval=0.5,
                   describe=lambda: f"{self.http.call('GET', '/agents/list')[1]}\n{self.service.recent_output()}")
        self.log(f"{self.agents} shell agents idle")

    def _send_bursts(self) -> None:
        bursts = [self.sent[i:i + self.burst] for i in range(0, len(self.sent), self.burst)]
        every = self.duration / max(1, len(bursts))
        with ThreadPoolExecutor(max_workers=self.burst) as pool:
            for i, burst in enumerate(bursts):
                # Pacing, not waiting for a condition: burst i goes out at i * every seconds,
                # so the messages span the whole duration.
                time.sleep(max(0.0, self.started + i * every - time.monotonic()))
                list(pool.map(self._send, burst))
                if i % 10 == 0 or i == len(bursts) - 1:
                    self._log(f"burst {i + 1}/{len(bursts)} sent")

    def _send(self, sent: Sent) -> None:
        status, body = self.http.call("POST", "/messages/send", {
            "target": sent.target, "message": f"echo soak-{sent.number} >>{RECORD}"})
        if status == 201:
            sent.message_id, sent.status = body["data"]["id"], body["data"]["status"]
        else:
            sent.status = f"send answered {status}"
            with self.http.lock:
                self.figures.send_refused.append(f"soak-{sent.number}: {status} {body.get('error_message')}")

    def _settle(self) -> None:
        """Wait (up to `settle` s) until every accepted message is final, reading them back."""
        def all_final() -> bool:
            self._read_back()
            waiting = [s for s in self.sent if s.message_id and s.status not in FINAL]
            return not waiting

        def waiting() -> str:
            left = Counter(s.status for s in self.sent if s.message_id and s.status not in FINAL)
            return f"still waiting: {dict(left)}\n{self.service.recent_output()}"

        try:
            wait_until(all_final, self.settle, "every message to be final", waiting, interval=1.0)
            self._log("every message is final")
        except ServiceError as error:
            self._log(str(error).splitlines()[0])  # the figures say which ones are not final

    def _read_back(self) -> None:
        by_id = {s.message_id: s for s in self.sent if s.message_id and s.status not in FINAL}
        for target in self.targets:
            status, body = self.http.call("GET", f"/messages/history?target={target}&limit={HISTORY_LIMIT}")
            rows = body["data"] if status == 200 else []
            for row in rows:
                self._update(by_id.get(row["id"]), row)
        older = [s for s in by_id.values() if s.status not in FINAL]  # beyond the history's limit
        if len(older) <= 200:
            with ThreadPoolExecutor(max_workers=8) as pool:
                for sent, (status, body) in zip(older, pool.map(
                        lambda s: self.http.call("GET", f"/messages/{s.message_id}"), older)):
                    if status == 200:
                        self._update(sent, body["data"])

    @staticmethod
    def _update(sent: Sent | None, row: dict) -> None:
        if sent is not None:
            sent.status, sent.created_at, sent.delivered_at = (
                row["status"], _time(row["created_at"]), _time(row["delivered_at"]))
            if row["error"] or row["delivery_log"]:
                sent.error = f"{row['error']} [{row['delivery_log'].strip()}]"

    # -- alongside --------------------------------------------------------------------------
    def _read_status(self) -> None:
        """Status reads all the while: an agent's status, the list, the system status, health."""
        paths = ["/agents/list", "/monitor/status", "/monitor/health"]
        i = 0
        while not self.done.is_set():
            target = self.targets[i % len(self.targets)]
            for path in [f"/agents/status?target={target}", paths[i % len(paths)]]:
                status, body = self.http.call("GET", path)
                self.figures.status_reads += 1
                if path == "/monitor/health" and status in (200, 503):
                    self.figures.reported_restarts = restarts_by_process(body.get("data")) or self.figures.reported_restarts
            i += 1
            self.done.wait(0.2)  # pacing of the reads

    def _churn(self) -> None:
        """Spawn an agent and kill it again, over and over, on agents that get no counted messages."""
        path = self.service.workdir / "churn"
        path.mkdir(exist_ok=True)
        k = 0
        while not self.done.wait(self.churn_every / 2):  # pacing of the churn
            target = f"{CHURN_SESSION}:c{k}"
            status, _ = self.http.call("POST", "/agents/spawn", {
                "session_name": CHURN_SESSION, "name": f"c{k}", "agent_type": "qa", "project_path": str(path),
                "profile": "shell", "briefing_message": "# churn"})
            self.figures.churn[f"spawn {status}"] += 1
            self.done.wait(self.churn_every / 2)
            status, _ = self.http.call("POST", "/agents/kill", {"target": target})
            self.figures.churn[f"kill {status}"] += 1
            k += 1

    def _kill_workers(self) -> None:
        """SIGKILL the worker `kill_worker_times` times, spread over the load; after each, the
        supervisor must start a new one. Each kill hits a worker that has run `WORKER_RUNS` s:
        a crash under load, not a worker failing as it starts."""
        every = self.duration / self.kill_worker_times
        running_since = self.started
        for k in range(self.kill_worker_times):
            at = max(self.started + (k + 0.5) * every, running_since + WORKER_RUNS)
            if self.done.wait(max(0.0, at - time.monotonic())):  # pacing of the kills
                return
            try:
                old = self.service.kill_worker()
                self.figures.worker_kills += 1
                self._log(f"killed the worker (pid {old}), kill {k + 1}/{self.kill_worker_times}")
                new = wait_until(lambda: (p := self.service.worker_pid()) not in (None, old) and p, 90,
                                 f"a new worker after kill {k + 1}", self.service.recent_output, interval=0.2)
                running_since = time.monotonic()
                self.figures.worker_restarts_seen += 1
                self._log(f"a new worker is running (pid {new})")
            except ServiceError as error:
                self.figures.kill_problems.append(str(error).splitlines()[0])
                return

    # -- the figures -------------------------------------------------------------------------
    def _tally(self) -> None:
        figures = self.figures
        figures.by_status = dict(Counter(s.status for s in self.sent))
        figures.not_delivered = [str(s) for s in self.sent if s.message_id and s.status != "delivered"]
        recorded = self._recorded()
        for sent in self.sent:
            places = recorded.pop(sent.number, [])
            if any(place != sent.target for place in places):
                figures.strays.append(f"soak-{sent.number} for {sent.target} ran in {places}")
            elif len(places) > 1:
                figures.typed_twice.append(sent.number)
            elif not places and sent.message_id:
                figures.never_typed.append(sent.number)
            if (len(places) == 1) != (sent.status == "delivered"):
                figures.status_wrong.append(f"ran {len(places)} times, yet {sent}")
        figures.strays += [f"soak-{number}, never sent, ran in {places}" for number, places in recorded.items()]
        delivered = [s for s in self.sent if s.status == "delivered" and s.created_at and s.delivered_at]
        latencies = [(s.delivered_at - s.created_at).total_seconds() for s in delivered]
        figures.latency_p50, figures.latency_p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
        if delivered:
            span = (max(s.delivered_at for s in delivered) - min(s.created_at for s in delivered)).total_seconds()
            figures.messages_per_second = len(delivered) / max(span, 0.001)
        figures.requests = self.http.requests
        figures.server_errors, figures.connection_errors = self.http.server_errors, self.http.connection_errors
        figures.unhealthy_readings = self.http.unhealthy

    def _recorded(self) -> dict[int, list[str]]:
        """Message number -> the targets whose pane ran it, once per time it ran."""
        recorded: dict[int, list[str]] = {}
        for target in self.targets:
            log = self.service.workdir / "agents" / target.split(":")[1] / RECORD
            text = log.read_text() if log.exists() else ""
            for number in RECORDED.findall(text):
                recorded.setdefault(int(number), []).append(target)
        return recorded


def soak(service: Service, *, duration: float = 180, agents: int = 20, messages: int = 2000, burst: int = 50,
         kill_worker_times: int = 0, churn_every: float = 10, settle: float = 240, log=print) -> Figures:
    """Load a started service for `duration` seconds (at least): `messages` shell commands to
    `agents` shell agents in bursts of `burst` concurrent sends, spawns and kills of other
    agents every `churn_every` s, status reads throughout, and `kill_worker_times` SIGKILLs of
    the worker; then wait up to `settle` s for every message to be final. Asserts nothing:
    `Figures.problems()` says what went wrong."""
    return Soak(service, duration=duration, agents=agents, messages=messages, burst=burst,
                kill_worker_times=kill_worker_times, churn_every=churn_every, settle=settle, log=log).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--messages", type=int, help="default: 2000 for every 3 minutes")
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--kill-worker", type=int, default=0, help="SIGKILL the worker this many times")
    args = parser.parse_args()
    duration = args.minutes * 60
    messages = args.messages or round(2000 * duration / 180)
    workdir = Path(tempfile.mkdtemp(prefix="tmux-orc-soak-"))
    service = Service(workdir)
    try:
        service.start()
        log = lambda text: print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)  # noqa: E731
        figures = soak(service, duration=duration, agents=args.agents, messages=messages, burst=args.burst,
                       kill_worker_times=args.kill_worker, settle=max(240, duration / 2), log=log)
        print(figures.report())
        problems = figures.problems()
        print("problems:\n  " + "\n  ".join(problems) if problems else "no problems")
        if problems:
            print(service.recent_output(40))
    finally:
        service.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
