"""PostgreSQL connections the web server holds while many requests wait on a message.

Run: .venv/bin/python bench/connections.py [--requests 100] [--wait 10] [--workers 2]
     (BENCH_POSTGRES_URL names the server to use, default postgres://postgres@127.0.0.1:5432/postgres)

Creates a database of its own and starts `tmux-orc server start --only web` on it, with a
private data directory, TMUX_TMPDIR and tmux socket. No worker runs, so a message sent to
an agent stays queued: every `GET /messages/{id}?wait=W` waits the whole W seconds. Fires
N of them at once, samples pg_stat_activity for that database meanwhile, and prints the
peak of connections, failures, status codes and latency. Only 127.0.0.1 is spoken to; the
server is stopped and the database dropped at the end. It asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
START_TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url(name: str) -> str:
    parts = urlsplit(POSTGRES_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


def call(url: str, token: str, payload: dict | None = None, timeout: float = 60) -> tuple[int, dict]:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, headers={"Authorization": f"Bearer {token}",
                                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, {}


class Service:
    """`tmux-orc server start --only web` on its own database, data directory and tmux socket."""

    def __init__(self, workdir: Path, database: str, workers: int):
        self.workdir, self.port, self.socket = workdir, free_port(), f"bench-{secrets.token_hex(4)}"
        (workdir / "tmux").mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX_ORC_") and k not in ("REDIS_URL", "TMUX")}
        env.update(DATABASE_URL=database_url(database), TMUX_TMPDIR=str(workdir / "tmux"),
                   TMUX_ORC_DATA_DIR=str(workdir / "data"), TMUX_ORC_TMUX_SOCKET=self.socket,
                   TMUX_ORC_PORT=str(self.port), TMUX_ORC_WORKERS=str(workers),
                   TMUX_ORC_AGENT_HOST=f"bench-{secrets.token_hex(4)}",  # a host no worker serves
                   TMUX_ORC_DEFAULT_TIMEOUT="1")  # the spawn answers 202 at once: no worker will take it
        self.env, self.lines = env, []
        tmux_orc = Path(sys.executable).with_name("tmux-orc")
        self.process = subprocess.Popen([str(tmux_orc), "server", "start", "--only", "web"], cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            found = [line.split("Token:", 1)[1].strip() for line in self.lines if "Token:" in line]
            if found:
                return found[0]
            time.sleep(0.1)
        raise SystemExit("the service did not start:\n" + "\n".join(self.lines[-40:]))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], env=self.env, capture_output=True)


def queued_message(service: Service, token: str) -> int:
    """A message to an agent whose worker never comes: it stays queued."""
    status, body = call(f"{service.base}/agents/spawn", token, {
        "session_name": "bench", "agent_type": "developer", "project_path": str(service.workdir), "profile": "shell"})
    if status not in (201, 202):
        raise SystemExit(f"spawn answered {status}: {body}")
    status, body = call(f"{service.base}/messages/send", token, {"target": body["data"]["target"], "message": "hi"})
    if status != 201:
        raise SystemExit(f"send answered {status}: {body}")
    return body["data"]["id"]


class Sampler:
    """Counts the database's connections every few milliseconds, from a connection to another database."""

    def __init__(self, database: str):
        self.database, self.samples, self._stop = database, [], threading.Event()
        self._admin = psycopg.connect(POSTGRES_URL, autocommit=True)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def max_connections(self) -> int:
        return int(self._admin.execute("SHOW max_connections").fetchone()[0])

    def count(self) -> int:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
        return self._admin.execute(query, [self.database]).fetchone()[0]

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.samples.append(self.count())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._admin.close()


def wait_once(url: str, token: str, timeout: float) -> tuple[str, float]:
    started = time.monotonic()
    try:
        status, _ = call(url, token, timeout=timeout)
        outcome = str(status)
    except OSError as error:  # refused, reset, timed out
        outcome = type(error).__name__
    return outcome, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--wait", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2, help="web server processes")
    args = parser.parse_args()
    database = f"tmux_orc_bench_{secrets.token_hex(4)}"
    workdir = Path(tempfile.mkdtemp(prefix="tmux-orc-bench-"))
    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
    except psycopg.Error as error:
        raise SystemExit(f"cannot create a database at {POSTGRES_URL} (BENCH_POSTGRES_URL): {error}") from None
    service = None
    try:
        service = Service(workdir, database, args.workers)
        token = service.token()
        url = f"{service.base}/messages/{queued_message(service, token)}?wait={args.wait}"
        with Sampler(database) as sampler:
            idle, limit = sampler.count(), sampler.max_connections()
            with ThreadPoolExecutor(max_workers=args.requests) as pool:
                results = list(pool.map(lambda _: wait_once(url, token, args.wait + 60), range(args.requests)))
            after = sampler.count()
        report(args, limit, idle, sampler.samples, after, results)
    finally:
        if service is not None:
            service.stop()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)


def report(args, limit: int, idle: int, samples: list[int], after: int, results: list[tuple[str, float]]) -> None:
    outcomes = Counter(outcome for outcome, _ in results)
    failures = sum(n for outcome, n in outcomes.items() if not outcome.startswith("2"))
    latencies = sorted(seconds for _, seconds in results)
    print(f"{args.requests} concurrent GET /messages/ID?wait={args.wait:g}, {args.workers} web processes, "
          f"PostgreSQL max_connections {limit}")
    print(f"  connections: idle {idle}, peak {max(samples, default=idle)}, after the load {after}")
    print(f"  failures:    {failures}   status codes: {dict(sorted(outcomes.items()))}")
    print(f"  latency:     min {latencies[0]:.2f} s, median {statistics.median(latencies):.2f} s, "
          f"max {latencies[-1]:.2f} s")


if __name__ == "__main__":
    main()
