"""The supervisor of `tmux-orc server start`, on real child processes."""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading

import pytest

from conftest import wait_for
from orchestrator import supervisor as supervisor_module
from orchestrator.supervisor import GaveUp, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
FAILING = [sys.executable, "-c", "import sys; sys.exit(3)"]


def running(supervisor: Supervisor) -> threading.Thread:
    thread = threading.Thread(target=supervisor.run, kwargs={"poll": 0.02}, daemon=True)
    thread.start()
    return thread


def test_a_child_that_dies_is_started_again_logged_and_counted(caplog):
    restarts = []
    supervisor = Supervisor({"worker": SLEEPER, "beat": SLEEPER}, env=dict(os.environ), first_backoff=0.05,
                            on_restart=lambda *args: restarts.append(args))
    supervisor.start()
    first, beat = supervisor.process("worker").pid, supervisor.process("beat").pid
    with caplog.at_level(logging.WARNING, logger="orchestrator.supervisor"):
        thread = running(supervisor)
        try:
            os.kill(first, signal.SIGKILL)
            wait_for(lambda: supervisor.process("worker").pid != first, message="a new worker")
        finally:
            supervisor.stop()
            thread.join(timeout=10)

    assert restarts == [("worker", -signal.SIGKILL, 1)]
    assert supervisor.process("beat").pid == beat  # the others run on
    assert "the worker process exited (killed by SIGKILL)" in caplog.text and "(restart 1)" in caplog.text
    assert all(c.process.poll() is not None for c in supervisor.children.values())  # stop() ended them


def test_a_child_failing_at_start_is_retried_with_doubling_pauses_then_given_up(caplog):
    supervisor = Supervisor({"web": FAILING}, env=dict(os.environ), first_backoff=0.05, max_backoff=0.2)
    supervisor.start()
    with caplog.at_level(logging.WARNING, logger="orchestrator.supervisor"), pytest.raises(GaveUp) as gave_up:
        supervisor.run(poll=0.01)
    supervisor.stop()

    assert str(gave_up.value) == "the web process failed 5 times within 60 s of starting (last: status 3); giving up"
    pauses = re.findall(r"starting it again in (\S+) s", caplog.text)
    assert pauses == ["0.05", "0.1", "0.2", "0.2"]


def test_stop_ends_every_child(tmp_path):
    supervisor = Supervisor({"web": SLEEPER, "worker": SLEEPER}, env=dict(os.environ))
    supervisor.start()
    processes = [c.process for c in supervisor.children.values()]

    supervisor.stop()

    assert [p.returncode for p in processes] == [-signal.SIGTERM, -signal.SIGTERM]


def test_a_child_that_had_started_well_comes_back_after_the_first_pause_each_time(caplog, monkeypatch):
    monkeypatch.setattr(supervisor_module, "START_GRACE", 0.2)
    restarts = []
    supervisor = Supervisor({"worker": [sys.executable, "-c", "import time, sys; time.sleep(0.4); sys.exit(1)"]},
                            env=dict(os.environ), first_backoff=0.05, on_restart=lambda *args: restarts.append(args))
    supervisor.start()
    with caplog.at_level(logging.WARNING, logger="orchestrator.supervisor"):
        thread = running(supervisor)
        try:
            wait_for(lambda: len(restarts) >= 3, message="three restarts")
        finally:
            supervisor.stop()
            thread.join(timeout=10)

    assert re.findall(r"starting it again in (\S+) s", caplog.text)[:3] == ["0.05", "0.05", "0.05"]


def test_what_a_killed_child_had_started_is_ended_before_it_starts_again(tmp_path):
    """As gunicorn's workers would keep the port of a master killed with SIGKILL."""
    pid_file = tmp_path / "grandchild"
    parent = [sys.executable, "-c", "import subprocess, sys, time; "
              f"p = subprocess.Popen(['sleep', '120']); open({str(pid_file)!r}, 'w').write(str(p.pid)); "
              "time.sleep(120)"]
    supervisor = Supervisor({"web": parent}, env=dict(os.environ), first_backoff=0.05)
    supervisor.start()
    first = supervisor.process("web").pid
    grandchild = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), message="the grandchild"))
    thread = running(supervisor)
    try:
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: supervisor.process("web").pid != first, message="a new web process")
        wait_for(lambda: not alive(grandchild), message="the old grandchild to be gone")
    finally:
        supervisor.stop()
        thread.join(timeout=10)


def alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
