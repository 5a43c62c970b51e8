"""Checks on what users give us, shared by every interface. Each error names the field."""

from __future__ import annotations

import os
import re

from orchestrator.errors import InvalidInput

# tmux renames ':' and '.' in session names and expands '#' formats; a leading '-' reads
# as an option. Names are therefore kept to a set tmux leaves alone.
NAME_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}"
NAME_RE = re.compile(rf"^{NAME_PATTERN}$")
TARGET_RE = re.compile(rf"^{NAME_PATTERN}:{NAME_PATTERN}$")
NAME_RULE = "1-64 letters, digits, '_' or '-', not starting with '-'"
MAX_BRIEFING = 100_000
MAX_PATH = 1024


def check_name(field: str, value: str) -> str:
    if not NAME_RE.match(value):
        raise InvalidInput(f"{field}: {value!r} is not a usable tmux name; use {NAME_RULE}")
    return value


def parse_target(value: str, field: str = "target") -> tuple[str, str]:
    if not TARGET_RE.match(value):
        raise InvalidInput(f"{field}: {value!r} is not 'session:window' ({NAME_RULE} on each side)")
    session, _, window = value.partition(":")
    return session, window


def check_project_path(value: str, field: str = "project_path", *, exists: bool = True) -> str:
    """An absolute path, normalised; with `exists`, of a directory on this machine (an agent
    on another host has its path checked there, by its worker)."""
    if not value or len(value) > MAX_PATH:
        raise InvalidInput(f"{field}: must be a path of 1 to {MAX_PATH} characters")
    if "\x00" in value:
        raise InvalidInput(f"{field}: must not contain NUL")
    path = os.path.expanduser(value)
    if not os.path.isabs(path):
        raise InvalidInput(f"{field}: {value!r} must be an absolute path")
    if exists and not os.path.isdir(path):
        raise InvalidInput(f"{field}: {value!r} does not exist or is not a directory")
    return os.path.normpath(path)


def check_briefing(value: str, field: str = "briefing_message") -> str:
    if len(value) > MAX_BRIEFING:
        raise InvalidInput(f"{field}: at most {MAX_BRIEFING} characters (got {len(value)})")
    return value
