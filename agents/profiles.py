"""Agent profiles: how to launch an agent program and how to talk to it.

Profiles are data. The built-ins cover Claude Code, Codex, Aider, Gemini CLI, opencode and
a plain shell; `[agents.profiles.NAME]` in the config file changes a built-in's settings or
adds a new profile. Each built-in's markers were read off the screens of the version named
in its `version` (agents/tests/screens/<name>/ holds them); `tmux-orc profiles check` says
whether the installed program is still that version.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
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
    # Where the agent's input is (agents/screens.py reads it):
    # "box": a line starting with `input_marker` between two rules (Claude Code);
    # "prompt": the last line starting with `input_marker` and the lines indented under it,
    #   just above the footer (Codex, Gemini CLI);
    # "bar": lines marked with `input_marker` down their left, the last one the program's
    #   status line, at the bottom (opencode);
    # "line": what follows the regex `input_marker` on the last line (a shell, Aider).
    # Empty: the input cannot be read.
    input_style: str = ""
    input_marker: str = ""
    input_placeholders: tuple[str, ...] = ()  # regexes of the hint an empty input shows
    submit_delay: float = 0.0  # seconds between the text showing in the input and Enter
    # Seconds a program may show no sign of work after it took a message (opencode draws
    # its spinner late): an idle screen that soon after a delivery is not believed.
    busy_after_submit: float = 0.0
    # Arguments that make the program continue its last conversation (after a restart).
    resume_args: tuple[str, ...] = ()
    version_args: tuple[str, ...] = ("--version",)
    version: str = ""  # the version whose screens the markers were read from
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
            resume_args=("--continue",), version="2.1.197",
        ),
        # Codex's input is the last "›" line above its footer; the hint in an empty one
        # stays while it works, so it is not a sign of idleness. Ctrl-C at an empty input
        # quits Codex: it is never pressed.
        Profile(
            "codex", "Codex", "codex",
            working_markers=(r"(esc|ctrl\+c) to interrupt",),
            approval_markers=(r"Would you like to (run the following command|make the following edits)\?",
                              r"Press enter to confirm or esc to cancel"),
            approve_keys=("y",), deny_keys=("Escape",), clear_input_keys=("C-u", "BSpace"),
            input_style="prompt", input_marker="›",
            input_placeholders=(r"Ask Codex to do anything", r"Ask a follow-up question"),
            resume_args=("resume", "--last"), hooks="codex", version="0.171.0",
        ),
        # Aider's prompt is the edit format's name ("diff> "); its questions end the screen
        # with "(Y)es/(N)o … [Yes]:" until answered. Ctrl-C stops a reply (twice quits).
        Profile(
            "aider", "Aider", "aider", interrupt_keys=("C-c",), approve_keys=("y", "Enter"), deny_keys=("n", "Enter"),
            clear_input_keys=("C-u", "BSpace"), working_markers=(r"Waiting for \S[^\n]*\Z",),  # on the last line only: a ^C leaves it above
            approval_markers=(r"\(Y\)es/\(N\)o[^\n]*\[(Yes|No)\]: *\Z",),
            input_style="line", input_marker=r"^[\w-]*>(?: |$)", ready_markers=(r"^[\w-]*>(?: |$)",),
            resume_args=("--restore-chat-history",), version="0.86.2",
        ),
        # Gemini CLI takes an Enter that comes right after a paste as a new line: it waits.
        # Escape twice at an empty input opens its rewind dialog, so clearing is line by line.
        Profile(
            "gemini", "Gemini", "gemini", working_markers=(r"\(esc to cancel",),
            approval_markers=(r"Allow execution of", r"Apply this change\?", r"● 1\. Allow once"),
            approve_keys=("Enter",), deny_keys=("Escape",), clear_input_keys=("C-u", "BSpace"),
            input_style="prompt", input_marker=">", input_placeholders=(r"Type your message or @path/to/file",),
            submit_delay=0.3, resume_args=("--resume", "latest"), version="0.61.0",
        ),
        # opencode shows no spinner for a moment after a session's first message; Escape
        # twice interrupts (the first only asks for the second); Ctrl-C at an empty input
        # quits and Ctrl-D deletes the session, so its input is cleared with Backspace.
        Profile(
            "opencode", "OpenCode", "opencode", interrupt_keys=("Escape", "Escape"),
            working_markers=(r"esc (again to )?interrupt",),
            approval_markers=(r"Permission required", r"Allow once\s+Allow always\s+Reject"),
            approve_keys=("Enter",), deny_keys=("Escape",), clear_input_keys=("BSpace",),
            input_style="bar", input_marker="┃", input_placeholders=(r'Ask anything… ".*"',),
            busy_after_submit=3.0, resume_args=("--continue",), version="1.18.33",
        ),
        Profile(
            "shell", "Shell", "bash", interrupt_keys=("C-c",), approve_keys=("y", "Enter"), deny_keys=("n", "Enter"),
            ready_markers=(r"[$#%>]\s*$",), input_style="line", input_marker=r"[$#%>](?: |$)",
        ),
    ]
}
HOOK_KINDS = ("", "claude", "codex")
INPUT_STYLES = ("", "box", "prompt", "bar", "line")
FIELDS = {
    "display_name", "command", "interrupt_keys", "submit_keys", "clear_input_keys", "approve_keys", "deny_keys",
    "ready_markers", "working_markers", "approval_markers", "input_style", "input_marker", "input_placeholders",
    "submit_delay", "busy_after_submit", "resume_args", "version_args", "version", "env", "mcp_config_option", "hooks",
}
SECONDS = ("submit_delay", "busy_after_submit")
MAY_BE_EMPTY = ("input_style", "input_marker", "mcp_config_option", "hooks", "version")


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
        elif key.endswith(("_keys", "_markers", "_placeholders", "_args")):
            if not isinstance(value, list) or not all(isinstance(k, str) and k for k in value):
                raise ConfigError(f"{where}: {key} must be a list of strings")
            if key.endswith(("_markers", "_placeholders")):
                _check_patterns(where, key, value)
            values[key] = tuple(value)
        elif key in SECONDS:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 60:
                raise ConfigError(f"{where}: {key} must be a number of seconds from 0 to 60")
            values[key] = float(value)
        elif key == "input_style" and value not in INPUT_STYLES:
            raise ConfigError(f"{where}: input_style must be one of {', '.join(repr(s) for s in INPUT_STYLES)}")
        elif key == "hooks" and value not in HOOK_KINDS:
            raise ConfigError(f"{where}: hooks must be one of {', '.join(repr(k) for k in HOOK_KINDS)}")
        elif not isinstance(value, str) or (not value.strip() and key not in MAY_BE_EMPTY):
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


# --- is the installed program the one the markers were read from? --------------------------

VERSION = re.compile(r"\d+(?:\.\d+)+")
VERSION_TIMEOUT = 30  # seconds; some programs start a runtime to print their version


@dataclass(frozen=True)
class VersionCheck:
    profile: str
    program: str
    expected: str  # the version the profile's markers were read from ("" if it names none)
    found: str  # the version the program printed ("" if it did not run or printed none)
    status: str  # "ok", "different", "not installed", "unknown" (nothing to compare) or "failed"
    detail: str

    @property
    def mismatch(self) -> bool:
        return self.status == "different"


def version_check(profile: Profile) -> VersionCheck:
    """Run the profile's version command and compare what it prints with `profile.version`."""
    def result(status: str, detail: str, found: str = "") -> VersionCheck:
        return VersionCheck(profile.name, profile.program, profile.version, found, status, detail)

    path = profile.program if os.path.isabs(profile.program) else shutil.which(profile.program)
    if not path or not os.access(path, os.X_OK):
        return result("not installed", f"{profile.program!r} is not installed here")
    try:
        done = subprocess.run([path, *profile.version_args], capture_output=True, text=True, errors="replace",
                              timeout=VERSION_TIMEOUT, env={**os.environ, **dict(profile.env)}, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as error:
        return result("failed", f"{profile.program} {' '.join(profile.version_args)}: {error}")
    found = VERSION.search(done.stdout + "\n" + done.stderr)
    if found is None:
        first = (done.stdout or done.stderr).strip().splitlines()[:1]
        return result("failed", f"{profile.program} {' '.join(profile.version_args)} printed no version"
                                f"{': ' + first[0][:100] if first else ''}")
    if not profile.version:
        return result("unknown", f"{found.group()} installed; the profile names no version to compare", found.group())
    if found.group() != profile.version:
        return result("different", f"{found.group()} installed, but the screen markers were read from "
                                   f"{profile.version}: check that its states are still read right", found.group())
    return result("ok", f"{found.group()}, the version the screen markers were read from", found.group())


def versions_check(profiles: dict[str, Profile] | None = None) -> list[VersionCheck]:
    return [version_check(profile) for profile in (profiles or all_profiles()).values()]
