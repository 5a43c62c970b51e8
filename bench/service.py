"""The README's run command (`bin/run`) on the embedded default, started in a private place.

SQLite and the filesystem broker in a data directory of its own, a private tmux server
(its own TMUX_TMPDIR and socket name), a free port on 127.0.0.1, and an environment with
no DATABASE_URL, REDIS_URL or TMUX_ORC_* from the caller; and a JSON client for its API
that counts 5xx answers and requests left unanswered. Used by bench/soak.py and by the
tests that start the whole service (tests/test_soak.py, tests/test_service_restart.py).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "bin" / "run"
CLI = ROOT / ".venv" / "bin" / "tmux-orc"
# Shell agents skip the machine's rc files (some take a minute to the first prompt).
TEST_CONFIG = ROOT / "tests" / "orchestrator-test.toml"
CALLERS_ONLY = ("DATABASE_URL", "REDIS_URL", "TMUX", "TMUX_PANE", "PROMETHEUS_MULTIPROC_DIR")
# What the supervisor, gunicorn and billiard print when a process of the service ends.
CHILD_EXIT = re.compile(r"\b(web|worker|beat)\b.*\b(exited|died|terminated|restart(ed|ing)?)\b", re.IGNORECASE)


class ServiceError(Exception):
    """The service did not do what was waited for; the text says what, with its recent output."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, timeout: float, what: str, describe=None, interval: float = 0.1):
    """Poll `condition` until it returns something truthy; ServiceError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise ServiceError(f"timed out after {timeout:.0f} s waiting for {what}"
                               + (f"\n{describe()}" if describe else ""))
        time.sleep(interval)


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, children first."""
    found, todo = [], [pid]
    while todo:
        for child in children_of(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def children_of(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return []
    pids = []
    for task in tasks:
        try:
            pids += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return pids


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except (FileNotFoundError, ProcessLookupError):
        return []


def role_of(argv: list[str]) -> str:
    """Which part of the service a supervisor's child is: web, worker, watcher or beat."""
    if "gunicorn" in argv:
        return "web"
    if "watcher" in argv:
        return "watcher"
    if "celery" in argv and "worker" in argv:
        return "worker"
    if "celery" in argv and "beat" in argv:
        return "beat"
    return " ".join(argv)[:60] or "?"


class Service:
    """`bin/run` in `workdir` (data/ and tmux/ below it). Start it again after a stop and
    it comes back on the same data directory, tmux server, port and token."""

    def __init__(self, workdir: Path, *, env: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.data_dir, self.tmux_dir = self.workdir / "data", self.workdir / "tmux"
        self.tmux_dir.mkdir(parents=True, exist_ok=True)
        self.port, self.socket_name = free_port(), f"soak-{secrets.token_hex(4)}"
        self.env = {k: v for k, v in os.environ.items() if k not in CALLERS_ONLY and not k.startswith("TMUX_ORC_")}
        self.env.update(TMUX_TMPDIR=str(self.tmux_dir), TMUX_ORC_DATA_DIR=str(self.data_dir),
                        TMUX_ORC_PORT=str(self.port), TMUX_ORC_TMUX_SOCKET=self.socket_name,
                        TMUX_ORC_WORKERS="2", TMUX_ORC_CONFIG=str(TEST_CONFIG))
        self.env.update(env or {})  # the caller's own settings win, the config file included
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.lines: list[str] = []  # every start's output, in order
        self.token = ""

    # -- start and stop ----------------------------------------------------------------------
    def start(self, timeout: float = 180) -> None:
        """Run bin/run and wait for its banner; the token is the one it prints."""
        self.lines.append(f"--- bin/run started at {time.strftime('%H:%M:%S')}")
        start = len(self.lines)
        self.process = subprocess.Popen([str(RUN)], cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        banner = lambda: any("Token:" in line for line in self.lines[start:])  # noqa: E731
        wait_until(lambda: banner() or self.process.poll() is not None, timeout, "the banner", self.recent_output)
        if self.process.poll() is not None:
            raise ServiceError(f"bin/run exited (status {self.process.returncode})\n{self.recent_output()}")
        self.token = next(re.search(r"Token:\s+(\S+)", line).group(1) for line in self.lines[start:]
                          if "Token:" in line)

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM the process group (as Ctrl-C would end it), then SIGKILL what is left."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.lines.append(f"--- still running {timeout:.0f} s after SIGTERM: SIGKILL")
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.lines.append(f"--- bin/run ended with status {self.process.returncode}")
        return self.process.returncode

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def gateway(self):
        """The agents' tmux server, by its socket's path (so this process's TMUX_TMPDIR does not matter)."""
        from agents.gateway import Gateway  # libtmux only: no Django settings needed

        return Gateway(socket_path=str(self.tmux_dir / f"tmux-{os.getuid()}" / self.socket_name))

    def close(self) -> None:
        """Stop the service and kill its tmux server (only that one)."""
        self.stop()
        self.gateway().kill_server()

    # -- what runs ---------------------------------------------------------------------------
    def children(self) -> dict[int, str]:
        """The supervisor's children (bin/run execs `tmux-orc server start`): pid -> web, worker, watcher or beat."""
        if not self.running:
            return {}
        return {pid: role_of(cmdline(pid)) for pid in children_of(self.process.pid)}

    def worker_pid(self) -> int | None:
        return next((pid for pid, role in self.children().items() if role == "worker"), None)

    def kill_worker(self) -> int:
        """SIGKILL the Celery worker's main process and its pool, as a crash would; returns its pid."""
        pid = self.worker_pid()
        if pid is None:
            raise ServiceError(f"no worker process to kill\n{self.recent_output()}")
        for victim in [pid, *descendants(pid)]:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pid

    def child_exits(self, since: int = 0) -> list[str]:
        """Lines of the output from line `since` on that say a process of the service ended."""
        return [line for line in self.lines[since:] if CHILD_EXIT.search(line)]

    def recent_output(self, lines: int = 60) -> str:
        return "--- the service's last output:\n" + "\n".join(self.lines[-lines:])

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """`tmux-orc ARGS` with the service's environment (its data directory and config)."""
        return subprocess.run([str(CLI), *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout)


class Http:
    """A JSON client for the service that counts what came back, from many threads at once."""

    def __init__(self, base_url: str, token: str):
        self.base_url, self.token = base_url, token
        self.lock = threading.Lock()
        self.requests = 0
        self.server_errors: list[str] = []  # 5xx answers (a 503 from /monitor/health is a result, not an error)
        self.connection_errors: list[str] = []
        self.unhealthy = 0

    def call(self, method: str, path: str, payload: dict | None = None, timeout: float = 90) -> tuple[int | None, dict]:
        """(status, envelope); status None when the server could not be reached or did not answer."""
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        except (urllib.error.URLError, HTTPException, OSError) as error:
            with self.lock:
                self.requests += 1
                self.connection_errors.append(f"{time.strftime('%H:%M:%S')} {method} {path}: {error!r}")
            return None, {}
        try:
            body = json.loads(text)
        except ValueError:
            body = {"error_message": text[:300].decode(errors="replace")}
        with self.lock:
            self.requests += 1
            if status == 503 and path.startswith("/monitor/health"):
                self.unhealthy += 1
            elif status >= 500:
                self.server_errors.append(f"{time.strftime('%H:%M:%S')} {method} {path}: {status} "
                                          f"{body.get('error_message')}")
        return status, body
