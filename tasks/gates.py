"""Quality gates: checks a task must pass before it can be `done`.

A check is a shell command run in the task's project path (it passes when it exits 0),
or `gate:NAME` for a class registered in the config:

    [tasks.gates]
    coverage = "myproject.gates.CoverageGate"

whose `validate(task)` returns a `GateResult`.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils.module_loading import import_string

MAX_OUTPUT = 10_000  # the end of a check's output is kept; that is where failures show


@dataclass
class GateResult:
    passed: bool
    output: str = ""


class QualityGate:
    """Subclass and implement `validate`; `self.path` is where the task's work is."""

    def __init__(self, path: str):
        self.path = path

    def validate(self, task) -> GateResult:
        raise NotImplementedError


class CommandGate(QualityGate):
    def __init__(self, path: str, command: str):
        super().__init__(path)
        self.command = command

    def validate(self, task) -> GateResult:
        timeout = settings.TMUX_ORC.check_timeout
        try:
            done = subprocess.run(self.command, shell=True, cwd=self.path, capture_output=True, text=True,
                                  timeout=timeout, errors="replace")
        except subprocess.TimeoutExpired:
            return GateResult(False, f"did not finish within {timeout:.0f} s")
        except OSError as error:
            return GateResult(False, f"could not run: {error}")
        output = (done.stdout + done.stderr)[-MAX_OUTPUT:]
        return GateResult(done.returncode == 0, output + ("" if done.returncode == 0 else f"\n(exit status {done.returncode})"))


def gate_names() -> list[str]:
    return sorted(settings.TMUX_ORC.quality_gates)


def gate_for(check: str, path: str) -> QualityGate:
    """The gate a check names; a gate missing from the config, or that cannot be imported,
    is an error the caller records as a failed check."""
    if not check.startswith("gate:"):
        return CommandGate(path, check)
    name = check.removeprefix("gate:")
    dotted = settings.TMUX_ORC.quality_gates.get(name)
    if dotted is None:
        raise LookupError(f"no gate named {name!r} in [tasks.gates]")
    try:
        gate_class = import_string(dotted)
    except ImportError as error:
        raise LookupError(f"gate {name!r}: cannot import {dotted}: {error}") from None
    return gate_class(path)


def run_check(check: str, task, path: str) -> GateResult:
    try:
        result = gate_for(check, path).validate(task)
    except SoftTimeLimitExceeded:
        raise  # the whole run's time is up: not this gate's failure
    except Exception as error:  # a gate's own bug is a failed check, not a crashed worker
        return GateResult(False, f"{type(error).__name__}: {error}")
    if not isinstance(result, GateResult):
        return GateResult(False, f"the gate returned {type(result).__name__}, not a GateResult")
    result.output = str(result.output)[-MAX_OUTPUT:]
    return result
