"""Reading an agent's screen: pure functions of the screen text and the profile."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agents.models import AgentState
from agents.profiles import Profile

BOTTOM_LINES = 15  # markers higher up are old output, not the agent's present state
RULE = re.compile(r"^\s*─{10,}\s*$")


def _lines(screen: str) -> list[str]:
    return [line.rstrip() for line in screen.splitlines() if line.strip()]


def _input_box(lines: list[str], marker: str) -> list[str] | None:
    """The lines of an input drawn between two rules near the bottom, or None."""
    rules = [i for i, line in enumerate(lines) if RULE.match(line)][-2:]
    if len(rules) < 2 or rules[1] - rules[0] < 2 or len(lines) - rules[1] > 4:
        return None
    inside = lines[rules[0] + 1:rules[1]]
    if not inside[0].lstrip().startswith(marker):
        return None
    return inside


def input_text(screen: str, profile: Profile) -> str | None:
    """What is in the agent's input line or box now ("" when empty); None when the screen
    shows no input (busy with a prompt, not started) or the profile cannot tell."""
    return _input_text(_lines(screen), profile)


def _input_text(lines: list[str], profile: Profile) -> str | None:
    if not lines or not profile.input_style:
        return None
    if profile.input_style == "box":
        box = _input_box(lines, profile.input_marker)
        if box is None:
            return None
        first = box[0].lstrip()[len(profile.input_marker):]
        rest = [line[2:] if line.startswith("  ") else line for line in box[1:]]
        return "\n".join([first.lstrip(" "), *rest]).strip()
    found = re.search(profile.input_marker + r"(?P<input>.*)$", lines[-1])
    return found.group("input").strip() if found else None


@dataclass(frozen=True)
class Reading:
    """What a screen says and what it was read from: the markers that matched (or what
    showed instead) and the bottom lines that were looked at."""

    state: str | None
    matched: tuple[str, ...]
    lines: tuple[str, ...]


def classify_screen(screen: str, profile: Profile) -> str | None:
    """The state the screen shows (idle, working, waiting_approval), or None if unclear."""
    return read_screen(screen, profile).state


def read_screen(screen: str, profile: Profile) -> Reading:
    """`classify_screen`, with the evidence."""
    lines = _lines(screen)
    bottom = lines[-BOTTOM_LINES:]
    state, matched = _state(lines, "\n".join(bottom), profile)
    return Reading(state, matched, tuple(bottom))


def _state(lines: list[str], bottom: str, profile: Profile) -> tuple[str | None, tuple[str, ...]]:
    for state, markers in ((AgentState.WAITING_APPROVAL, profile.approval_markers),
                           (AgentState.WORKING, profile.working_markers)):
        matched = tuple(f"{state} marker {m!r}" for m in markers if re.search(m, bottom, re.MULTILINE))
        if matched:
            return state, matched
    last = lines[-1] if lines else ""
    if profile.input_style == "box" and _input_text(lines, profile) is not None:
        return AgentState.IDLE, ("its input box is drawn, waiting (perhaps with text in it)",)
    if profile.input_style == "line" and _input_text(lines, profile) == "":
        return AgentState.IDLE, ("a bare prompt on the last line",)  # text after it may be a command running
    matched = tuple(f"ready marker {m!r}" for m in profile.ready_markers if re.search(m, last))
    if matched:
        return AgentState.IDLE, matched
    return None, ()


DONE_LINE = re.compile(r"^\s*[✶✻✽✢✳∗·*] \S+ for \d")  # "✻ Brewed for 4s": a turn's footer


def reply_after(screen: str, body: str, profile: Profile) -> str:
    """What the agent wrote after the message `body` was submitted, up to its input.

    Empty when the message's own line is no longer on the screen (or never was, as with
    a long paste that the program shows folded)."""
    lines = screen.splitlines()
    first = body.strip().splitlines()[0].strip()[:60] if body.strip() else ""
    if not first:
        return ""
    marker = profile.input_marker
    if profile.input_style == "box":
        echo = [i for i, line in enumerate(lines) if line.lstrip().startswith(marker) and first in line]
    elif profile.input_style == "line":
        echo = [i for i, line in enumerate(lines) if re.search(marker, line) and line.rstrip().endswith(first)]
    else:
        echo = [i for i, line in enumerate(lines) if first in line]
    if not echo:
        return ""
    start = echo[-1] + 1 + len(body.strip().splitlines()[1:])
    end = len(lines)
    if profile.input_style == "box":
        rules = [i for i, line in enumerate(lines) if RULE.match(line) and i >= start]
        end = rules[-2] if len(rules) >= 2 else end
    elif profile.input_style == "line":
        prompts = [i for i, line in enumerate(lines) if i >= start and re.search(profile.input_marker + r".*$", line)]
        end = prompts[-1] if prompts else end
    kept = [line.rstrip() for line in lines[start:end] if not DONE_LINE.match(line)]
    return "\n".join(kept).strip("\n")
