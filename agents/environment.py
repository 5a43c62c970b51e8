"""What an agent's pane is given to run with: an environment built from an allow-list, never
the service's own (its database and broker URLs, secret key, SMTP and webhook settings are
in the worker's environment, and tmux would hand them on to every pane).

A pane starts `agents/launch.py` with the path of a launch file (mode 0600, read and deleted
by the launcher) that holds the program's argv and its whole environment.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from django.conf import settings

from agents.gateway import shell_command

LAUNCHER = Path(__file__).with_name("launch.py")
# Taken from the service's environment as they are: who and where the user is, how text is
# written, and where tmux keeps its sockets (the pane knows its server anyway, from TMUX).
# PATH is taken without the service's own virtualenv.
ALLOWED = ("HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TMUX_TMPDIR")
ALLOWED_PREFIXES = ("LC_",)


def base_environment(source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allow-listed part of `source` (the service's environment): the start of every
    pane's environment, and all the agents' tmux server itself is started with."""
    source = os.environ if source is None else source
    chosen = {name: value for name, value in source.items()
              if name in ALLOWED or name.startswith(ALLOWED_PREFIXES)}
    chosen["PATH"] = _path_without_service(source.get("PATH", os.defpath))
    return chosen


def _path_without_service(path: str) -> str:
    """PATH less the service's virtualenv: its python, celery and Django are not the agents'."""
    if sys.prefix == sys.base_prefix:
        return path
    service_bin = os.path.realpath(Path(sys.prefix) / "bin")
    kept = [entry for entry in path.split(os.pathsep) if entry and os.path.realpath(entry) != service_bin]
    return os.pathsep.join(kept) or os.defpath


def launch_path(agent_pk: int) -> Path:
    return Path(settings.DATA_DIR) / "launch" / f"agent-{agent_pk}.json"


def launch_command(agent_pk: int, argv: Sequence[str], environment: Mapping[str, str]) -> str:
    """Write the agent's launch file; the pane's command that runs it."""
    path = launch_path(agent_pk)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"argv": list(argv), "env": dict(environment)}, handle)
    return shell_command([sys.executable, "-I", "-S", str(LAUNCHER), str(path)])
