"""Agent profiles: how to launch an agent program and how to talk to it.

Profiles are data. The built-ins cover Claude Code, Codex, Aider, Gemini CLI and a plain
shell; `[agents.profiles.NAME]` in the config file changes a built-in's settings or adds a
new profile.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, replace
from functools import cached_property

from django.conf import settings

from orchestrator.config import ConfigError


@dataclass(frozen=True)
class Profile:
    name: str
    display_name: str  # the first part of window names: "Claude-developer"
    command: str  # a command line; the pane `exec`s it
    interrupt_keys: tuple[str, ...] = ("Escape",)
    submit_keys: tuple[str, ...] = ("Enter",)
    clear_input_keys: tuple[str, ...] = ("C-u",)
    approve_keys: tuple[str, ...] = ("Enter",)  # with a choice, its number is pressed instead
    deny_keys: tuple[str, ...] = ("Escape",)
    # Regular expressions read on the bottom of the screen; see agents.screens.
    ready_markers: tuple[str, ...] = ()
    working_markers: tuple[str, ...] = ()
    approval_markers: tuple[str, ...] = ()
    # Where the agent's input is: "box" (a line starting with `input_marker` between two
    # rules, as Claude Code draws it) or "line" (what follows the regex `input_marker` on
    # the last line, as a shell prompt). Empty: the input cannot be read.
    input_style: str = ""
    input_marker: str = ""
    env: tuple[tuple[str, str], ...] = ()  # extra environment for the program, e.g. an API key
    # The program's option that takes an MCP config file (Claude Code: --mcp-config): with
    # it, each agent is given the orchestrator's MCP server, with its own token.
    mcp_config_option: str = ""
    # How the program reports its own state to the API (agents/hooks.py): "claude" (hooks in a
    # settings file given with --settings), "codex" (a notify command given with -c notify=…).
    hooks: str = ""

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.command)

    @cached_property  # read for every agent at every sweep
    def program(self) -> str:
        return self.argv[0]


BUILTIN_PROFILES = {
    profile.name: profile
    for profile in [
        Profile(
            "claude", "Claude", "claude",
            approve_keys=("1",), deny_keys=("Escape",),
            working_markers=(r"(esc|ctrl\+c) to interrupt", r"^\s*[✶✻✽✢✳∗·*] \S.*…", r"Compacting conversation"),
            approval_markers=(r"Do you want to proceed\?", r"^\s*❯ 1\. Yes"),
            input_style="box", input_marker="❯", mcp_config_option="--mcp-config", hooks="claude",
        ),
        # Codex's footer says "? for shortcuts" only while its input is empty (typed text
        # hides it), and "esc to interrupt" while it works: its input line itself has the
        # footer below it, so it cannot be read as a prompt line.
        Profile("codex", "Codex", "codex", working_markers=(r"(esc|ctrl\+c) to interrupt",),
                ready_markers=(r"\? for shortcuts",), hooks="codex"),
        # No screens of these were captured here: only the "busy" footers their interfaces
        # print are known; otherwise the sweep goes by screen activity.
        Profile("aider", "Aider", "aider", interrupt_keys=("C-c",)),
        Profile("gemini", "Gemini", "gemini", working_markers=(r"\(esc to cancel",)),
        Profile(
            "shell", "Shell", "bash", interrupt_keys=("C-c",), approve_keys=("y", "Enter"), deny_keys=("n", "Enter"),
            ready_markers=(r"[$#%>]\s*$",), input_style="line", input_marker=r"[$#%>](?: |$)",
        ),
    ]
}
HOOK_KINDS = ("", "claude", "codex")
FIELDS = {
    "display_name", "command", "interrupt_keys", "submit_keys", "clear_input_keys", "approve_keys", "deny_keys",
    "ready_markers", "working_markers", "approval_markers", "input_style", "input_marker", "env", "mcp_config_option",
    "hooks",
}


def _check_patterns(where: str, key: str, patterns: list[str]) -> None:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ConfigError(f"{where}: {key}: {pattern!r} is not a regular expression: {error}") from None


def _from_config(name: str, spec: dict, base: Profile | None) -> Profile:
    where = f"[agents.profiles.{name}] in {settings.TMUX_ORC.config_path}"
    unknown = set(spec) - FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(FIELDS))}")
    if base is None and "command" not in spec:
        raise ConfigError(f"{where}: a new profile needs a command")
    values = {}
    for key, value in spec.items():
        if key == "env":
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) and isinstance(v, str)
                for k, v in value.items()
            ):
                raise ConfigError(f"{where}: env must be a table of NAME = \"value\" strings")
            values[key] = tuple(sorted(value.items()))
        elif key.endswith(("_keys", "_markers")):
            if not isinstance(value, list) or not all(isinstance(k, str) and k for k in value):
                raise ConfigError(f"{where}: {key} must be a list of strings")
            if key.endswith("_markers"):
                _check_patterns(where, key, value)
            values[key] = tuple(value)
        elif key == "input_style" and value not in ("", "box", "line"):
            raise ConfigError(f"{where}: input_style must be \"box\", \"line\" or \"\"")
        elif key == "hooks" and value not in HOOK_KINDS:
            raise ConfigError(f"{where}: hooks must be one of {', '.join(repr(k) for k in HOOK_KINDS)}")
        elif not isinstance(value, str) or (not value.strip() and key not in ("input_style", "input_marker",
                                                                              "mcp_config_option", "hooks")):
            raise ConfigError(f"{where}: {key} must be a non-empty string")
        else:
            values[key] = value if key == "input_marker" else value.strip()
    if "command" in values:
        try:
            if not shlex.split(values["command"]):
                raise ValueError("empty")
        except ValueError:
            raise ConfigError(f"{where}: command is not a valid command line") from None
    if base is not None:
        return replace(base, **values)
    return Profile(name=name, display_name=values.pop("display_name", name.capitalize()), **values)


def all_profiles() -> dict[str, Profile]:
    profiles = dict(BUILTIN_PROFILES)
    for name, spec in settings.TMUX_ORC.profiles.items():
        profiles[name] = _from_config(name, spec, profiles.get(name))
    return profiles


def get_profile(name: str) -> Profile | None:
    return all_profiles().get(name)
