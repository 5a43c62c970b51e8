"""Helpers for tests that start real processes: a worker, or the whole service."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

from django.db import connection

SERVICE_ENV = ("DATABASE_URL", "REDIS_URL")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url_of_tests() -> str:
    """A DATABASE_URL naming the database this test session runs on."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db["USER"] or ""
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    host = db["HOST"] or "127.0.0.1"
    return f"postgres://{user}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


class Output:
    """Collects a process's output in the background so its pipe never fills."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM the process group, then SIGKILL what is left."""
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def toml_profiles(profiles: dict[str, dict]) -> str:
    """`[agents.profiles.NAME]` tables for a config file (strings, lists and env tables)."""
    def value(v):
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {json.dumps(x)}" for k, x in v.items()) + " }"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(json.dumps(x) for x in v) + "]"
        return json.dumps(v)

    return "".join(
        f"[agents.profiles.{name}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in spec.items()) + "\n"
        for name, spec in profiles.items()
    )


class Worker:
    """A real Celery worker process for the agents of `host`, on the test database."""

    def __init__(self, host: str, tmux_socket: str, config: str, cwd: str):
        self.host, self.tmux_socket, self.config, self.cwd = host, tmux_socket, config, cwd
        self.process: subprocess.Popen | None = None
        self.outputs: list[Output] = []

    @property
    def text(self) -> str:
        return "\n".join(output.text for output in self.outputs)

    def start(self, wait_for) -> None:
        env = {**os.environ, "DATABASE_URL": database_url_of_tests(), "TMUX_ORC_AGENT_HOST": self.host,
               "TMUX_ORC_TMUX_SOCKET": self.tmux_socket, "TMUX_ORC_CONFIG": self.config}
        command = [sys.executable, "-m", "celery", "-A", "orchestrator", "worker", "--queues", f"host.{self.host}",
                   "--hostname", f"{self.host}-{len(self.outputs)}@test", "--concurrency", "2", "--loglevel", "info"]
        self.process = subprocess.Popen(command, cwd=self.cwd, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        output = Output(self.process)
        self.outputs.append(output)
        wait_for(lambda: "ready." in output.text or self.process.poll() is not None, timeout=60, message="the worker")
        assert self.process.poll() is None, output.text

    def kill(self) -> None:
        """SIGKILL the worker and its child processes, as a crash would."""
        os.killpg(self.process.pid, 9)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
