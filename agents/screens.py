"""Reading an agent's screen: a pure function of the screen text and the profile."""

from __future__ import annotations

import re

from agents.models import AgentState
from agents.profiles import Profile

BOTTOM_LINES = 15  # markers higher up are old output, not the agent's present state


def classify_screen(screen: str, profile: Profile) -> str | None:
    """The state the screen shows (idle, working, waiting_approval), or None if unclear."""
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
    bottom = "\n".join(lines[-BOTTOM_LINES:])
    last = lines[-1] if lines else ""
    checks = [
        (AgentState.WAITING_APPROVAL, profile.approval_markers, bottom),
        (AgentState.WORKING, profile.working_markers, bottom),
        (AgentState.IDLE, profile.ready_markers, last if profile.name == "shell" else bottom),
    ]
    for state, markers, text in checks:
        if any(re.search(marker, text, re.MULTILINE) for marker in markers):
            return state
    return None
