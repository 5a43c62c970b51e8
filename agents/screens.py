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
    return _input_text(screen.splitlines(), profile)


def _input_text(raw: list[str], profile: Profile) -> str | None:
    lines = [line.rstrip() for line in raw if line.strip()]
    if not lines or not profile.input_style:
        return None
    if profile.input_style == "box":
        box = _input_box(lines, profile.input_marker)
        text = None if box is None else _indented(box, profile.input_marker)
    elif profile.input_style == "prompt":
        text = _prompt(raw, profile.input_marker)
    elif profile.input_style == "bar":
        text = _bar(lines, profile.input_marker)
    else:
        text = _line(lines, profile.input_marker)
    if text and any(re.fullmatch(hint, text) for hint in profile.input_placeholders):
        return ""
    return text


def _indented(block: list[str], marker: str) -> str:
    """The text of an input whose first line starts with `marker` and whose other lines are
    indented to where the first line's text starts."""
    first = block[0].lstrip()[len(marker):]
    indent = len(block[0]) - len(block[0].lstrip()) + len(marker) + 1
    rest = [line[indent:] if not line[:indent].strip() else line.lstrip() for line in block[1:]]
    return "\n".join([first.lstrip(" "), *rest]).strip()


FOOTER_LINES = 4  # lines a program may draw below its input


def _prompt(raw: list[str], marker: str) -> str | None:
    """The last line starting with `marker` and the lines indented under it, up to a blank
    line or a rule, with no more than a footer below."""
    starts = [i for i, line in enumerate(raw) if line.lstrip().startswith(marker)]
    if not starts:
        return None
    start = starts[-1]
    indent = len(raw[start]) - len(raw[start].lstrip()) + len(marker) + 1
    end = start + 1
    while end < len(raw) and raw[end].strip() and not RULE.match(raw[end]) and not raw[end][:indent].strip():
        end += 1
    if sum(1 for line in raw[end:] if line.strip()) > FOOTER_LINES:
        return None
    return _indented([line.rstrip() for line in raw[start:end]], marker)


def _line(lines: list[str], marker: str) -> str | None:
    """The text after a prompt on the last line. Aider draws a rule above its prompt and
    repeats the prompt on each line of a multi-line input, so a run of prompt lines under a
    rule is one input; elsewhere (a shell) the lines above are history."""
    typed = []
    for line in reversed(lines):
        found = re.search(marker + r"(?P<input>.*)$", line)
        if not found:
            break
        typed.insert(0, found.group("input").strip())
    if not typed:
        return None
    under_rule = len(typed) < len(lines) and RULE.match(lines[-len(typed) - 1])
    return "\n".join(typed).strip("\n") if under_rule else typed[-1]


def _bar(lines: list[str], marker: str) -> str | None:
    """Lines marked with `marker` down their left at the bottom of the screen; the last of
    them is the program's status line (opencode's agent and model), not input."""
    ends = [i for i, line in enumerate(lines) if line.lstrip().startswith(marker)]
    if not ends or len(lines) - 1 - ends[-1] > FOOTER_LINES:
        return None
    start = ends[-1]
    while start > 0 and lines[start - 1].lstrip().startswith(marker):
        start -= 1
    # The edge below the bar is as wide as the input: what is right of it is a side panel.
    width = len(lines[ends[-1] + 1]) if ends[-1] + 1 < len(lines) else None
    inside = [line[:width].lstrip()[len(marker):] for line in lines[start:ends[-1]]]
    return "\n".join(line[2:] if line.startswith("  ") else line.lstrip() for line in inside).strip()


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
    raw = screen.splitlines()
    bottom = _lines(screen)[-BOTTOM_LINES:]
    state, matched = _state(raw, "\n".join(bottom), profile)
    return Reading(state, matched, tuple(bottom))


def _state(raw: list[str], bottom: str, profile: Profile) -> tuple[str | None, tuple[str, ...]]:
    for state, markers in ((AgentState.WAITING_APPROVAL, profile.approval_markers),
                           (AgentState.WORKING, profile.working_markers)):
        matched = tuple(f"{state} marker {m!r}" for m in markers if re.search(m, bottom, re.MULTILINE))
        if matched:
            return state, matched
    last = bottom.rsplit("\n", 1)[-1]
    typed = _input_text(raw, profile)
    if profile.input_style == "line":
        if typed == "":
            return AgentState.IDLE, ("a bare prompt on the last line",)  # text after it may be a command running
    elif profile.input_style and typed is not None:
        return AgentState.IDLE, ("its input is drawn, waiting (perhaps with text in it)",)
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
    marker, style = profile.input_marker, profile.input_style
    marked = [i for i, line in enumerate(lines) if line.lstrip().startswith(marker)] if marker else []
    if style in ("box", "prompt", "bar"):
        echo = [i for i in marked if first in lines[i]]
    elif style == "line":
        echo = [i for i, line in enumerate(lines) if re.search(marker, line) and line.rstrip().endswith(first)]
    else:
        echo = [i for i, line in enumerate(lines) if first in line]
    if style == "prompt" and marked:
        echo = [i for i in echo if i != marked[-1]]  # the last one is the input itself
    if not echo:
        return ""
    start = echo[-1] + 1 + len(body.strip().splitlines()[1:])
    end = len(lines)
    if style == "box":
        rules = [i for i, line in enumerate(lines) if RULE.match(line) and i >= start]
        end = rules[-2] if len(rules) >= 2 else end
    elif style == "prompt" and marked and marked[-1] >= start:
        end = marked[-1]
    elif style == "bar":
        start = next((i for i in range(echo[-1], len(lines)) if not lines[i].lstrip().startswith(marker)), end)
        runs = [i for i in marked if i >= start and not lines[i - 1].lstrip().startswith(marker)]
        end = runs[-1] if runs else end
    elif style == "line":
        prompts = [i for i, line in enumerate(lines) if i >= start and re.search(profile.input_marker + r".*$", line)]
        end = prompts[-1] if prompts else end
    kept = [line.rstrip() for line in lines[start:end] if not DONE_LINE.match(line)]
    return "\n".join(kept).strip("\n")
