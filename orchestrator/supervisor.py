"""Keeps the service's processes (web, worker, watcher, beat) running: a child that exits is
started again after a pause, 1 s after it had run a while, doubling (up to 30 s) while
it keeps failing as it starts.

Only a child that keeps failing as it starts (five times within a minute, each within
`START_GRACE` seconds of starting) makes the supervisor give up, with one line that says
so. Agents live in their own tmux server and are not children: they run on whatever the
supervisor does.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("orchestrator.supervisor")

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
START_GRACE = 10.0  # a child that exits sooner than this after starting failed at start
GIVE_UP_AFTER = 5  # failures at start ...
GIVE_UP_WINDOW = 60.0  # ... within this many seconds


class GaveUp(Exception):
    """A child keeps failing at start; the text says which and how."""


def exit_status(returncode: int) -> str:
    """`status 1`, or `killed by SIGKILL` for a child ended by a signal."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"status {returncode}"


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL whatever is left in the process group `process` led."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # nothing is left


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    restarts: int = 0
    backoff: float = FIRST_BACKOFF
    start_failures: deque = field(default_factory=deque)


class Supervisor:
    """Start `commands` (name: argv), then keep them running until `stop()` or Ctrl-C.

    `on_restart(name, returncode, restarts)` is told of every restart, for the record.
    """

    def __init__(self, commands: dict[str, list[str]], *, env: dict[str, str],
                 on_restart: Callable[[str, int, int], None] = lambda *args: None,
                 first_backoff: float = FIRST_BACKOFF, max_backoff: float = MAX_BACKOFF):
        self.children = {name: Child(name, command) for name, command in commands.items()}
        self.env, self.on_restart = env, on_restart
        self.first_backoff, self.max_backoff = first_backoff, max_backoff
        self._stopping = False

    def start(self) -> None:
        for child in self.children.values():
            child.backoff = self.first_backoff
            self._spawn(child)

    def process(self, name: str) -> subprocess.Popen:
        return self.children[name].process

    def run(self, poll: float = 0.2) -> None:
        """Watch the children until `stop()`; raises GaveUp if one cannot start."""
        while not self._stopping:
            now = time.monotonic()
            for child in self.children.values():
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        self._spawn(child)
                elif child.process.poll() is not None:
                    self._exited(child, now)
            time.sleep(poll)

    def stop(self, timeout: float = 15.0) -> None:
        """Ask every child to stop (SIGTERM); kill those still there after `timeout`, and
        whatever each one left behind."""
        self._stopping = True
        running = [c.process for c in self.children.values() if c.process and c.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for child in self.children.values():
            if child.process:
                _kill_group(child.process)

    def _spawn(self, child: Child) -> None:
        # Each child leads a process group of its own, so what it started (gunicorn's and
        # Celery's pool processes) can be ended with it and never holds on to its port.
        child.process = subprocess.Popen(child.command, env=self.env, start_new_session=True)
        child.started_at, child.restart_at = time.monotonic(), None

    def _exited(self, child: Child, now: float) -> None:
        ran_for, status = now - child.started_at, exit_status(child.process.returncode)
        _kill_group(child.process)  # e.g. web server processes left serving by a killed master
        if ran_for < START_GRACE:
            child.start_failures.append(now)
            while child.start_failures and now - child.start_failures[0] > GIVE_UP_WINDOW:
                child.start_failures.popleft()
            if len(child.start_failures) >= GIVE_UP_AFTER:
                raise GaveUp(f"the {child.name} process failed {len(child.start_failures)} times within "
                             f"{GIVE_UP_WINDOW:.0f} s of starting (last: {status}); giving up")
        else:  # it had started well: whatever ended it, it comes back soon
            child.backoff = self.first_backoff
        child.restarts += 1
        log.warning("the %s process exited (%s) after %.0f s; starting it again in %g s (restart %d)",
                    child.name, status, ran_for, child.backoff, child.restarts)
        child.restart_at = now + child.backoff
        child.backoff = min(child.backoff * 2, self.max_backoff)
        self.on_restart(child.name, child.process.returncode, child.restarts)
