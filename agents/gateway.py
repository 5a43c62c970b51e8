"""The tmux gateway: the only module that talks to tmux.

Everything tmux-shaped lives here: targets, typing text, key sending, capture and batching.
Panes are addressed by their ids (`%7`), never by names. Operations on many panes are one
tmux invocation with commands chained by `;`, not one process per pane. tmux failures come
out as the exceptions below, never as libtmux's.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import libtmux
from libtmux import exc as libtmux_exc

SEP = "\x1f"  # field separator in formats: never in names we accept, nor in commands
PANE_FORMAT = SEP.join(
    [
        "#{session_id}", "#{window_id}", "#{pane_id}", "#{pane_pid}", "#{pane_dead}",
        "#{pane_dead_status}", "#{window_activity}", "#{pane_current_command}",
        "#{session_name}", "#{window_name}",
    ]
)
CREATED_FORMAT = SEP.join(["#{session_id}", "#{window_id}", "#{pane_id}", "#{pane_pid}"])
DEFAULT_SIZE = ("220", "50")
MAX_COMMAND_BYTES = 16_000  # tmux refuses a command line of more than ~16 kB ("command too long")


class TmuxError(Exception):
    """tmux refused or failed an operation; the message says what tmux said."""


class TmuxNotInstalled(TmuxError):
    pass


class TmuxNotRunning(TmuxError):
    pass


class TargetNotFound(TmuxError):
    pass


@dataclass(frozen=True)
class PaneInfo:
    session_id: str
    window_id: str
    pane_id: str
    pid: int | None
    dead: bool
    dead_status: int | None
    activity: float
    current_command: str
    session_name: str
    window_name: str


@dataclass(frozen=True)
class WindowSpec:
    """A window to create: in `session_name` (created if missing), running `command`."""

    session_name: str
    window_name: str
    command: str
    cwd: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CreatedWindow:
    session_id: str
    window_id: str
    pane_id: str
    pid: int


def _escape(arg: str) -> str:
    """tmux reads an argument ending in `;` as a command separator; `\\;` keeps it literal."""
    return arg[:-1] + "\\;" if arg.endswith(";") else arg


def _chain(commands: Iterable[Sequence[str]]) -> list[str]:
    args: list[str] = []
    for command in commands:
        if args:
            args.append(";")
        args.extend(_escape(str(a)) for a in command)
    return args


def _in_invocations(groups: Iterable[Sequence[Sequence[str]]]) -> Iterable[list[Sequence[str]]]:
    """Pack groups of commands into as few tmux command lines as fit; a group never splits."""
    chunk: list[Sequence[str]] = []
    size = 0
    for group in groups:
        args = _chain(group)
        group_size = len("\0".join(args).encode("utf-8", "surrogateescape")) + 3
        if chunk and size + group_size > MAX_COMMAND_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.extend(group)
        size += group_size
    if chunk:
        yield chunk


def _raise_for(stderr: list[str]) -> None:
    message = "; ".join(stderr)
    if any(text in message for text in ("no server running", "error connecting to", "server exited", "lost server")):
        raise TmuxNotRunning("the tmux server is not running")
    if "can't find" in message:
        raise TargetNotFound(message)
    raise TmuxError(message or "tmux failed")


def _int(text: str) -> int | None:
    return int(text) if text.lstrip("-").isdigit() else None


def _pane_info(line: str) -> PaneInfo | None:
    parts = line.split(SEP)
    if len(parts) != 10:
        return None
    sid, wid, pid_, pid, dead, status, activity, command, sname, wname = parts
    return PaneInfo(sid, wid, pid_, _int(pid), dead == "1", _int(status), float(activity or 0), command, sname, wname)


class Gateway:
    """One tmux server, named by socket (`-L`) or path (`-S`)."""

    def __init__(self, socket_name: str | None = None, socket_path: str | None = None,
                 environment: Mapping[str, str] | None = None):
        self.server = libtmux.Server(socket_name=socket_name, socket_path=socket_path)
        # What a tmux server this gateway starts runs with (None: this process's environment).
        # tmux gives its own environment to every pane, and keeps it in its process.
        self.environment = environment

    # -- one round trip -------------------------------------------------------------------
    def run(self, commands: Sequence[Sequence[str]]) -> list[str]:
        """Run chained commands in one tmux invocation; return stdout lines."""
        args = _chain(commands)
        try:
            result = self.server.cmd(*args)
        except libtmux_exc.TmuxCommandNotFound:
            raise TmuxNotInstalled("tmux is not installed on this host") from None
        if result.returncode != 0:
            _raise_for(result.stderr)
        return result.stdout

    def _run_starting(self, commands: Sequence[Sequence[str]]) -> list[str]:
        """`run` for commands that may start the server: in `self.environment`."""
        if self.environment is None:
            return self.run(commands)
        tmux = shutil.which("tmux")
        if tmux is None:
            raise TmuxNotInstalled("tmux is not installed on this host")
        socket = [f"-S{self.server.socket_path}"] if self.server.socket_path else (
            [f"-L{self.server.socket_name}"] if self.server.socket_name else [])
        result = subprocess.run([tmux, *socket, *_chain(commands)], env=dict(self.environment), capture_output=True,
                                text=True, encoding="utf-8", errors="backslashreplace", check=False)
        if result.returncode != 0:
            _raise_for(result.stderr.splitlines())
        return result.stdout.splitlines()

    def _run_grouped(self, groups: Iterable[Sequence[Sequence[str]]]) -> list[str]:
        """Like `run`, in more than one invocation only when tmux's command-line limit needs it."""
        return [line for commands in _in_invocations(groups) for line in self.run(commands)]

    def is_running(self) -> bool:
        try:
            self.run([["list-sessions", "-F", "#{session_id}"]])
        except TmuxNotRunning:
            return False
        return True

    # -- windows --------------------------------------------------------------------------
    def create_window(self, spec: WindowSpec) -> CreatedWindow:
        return self.create_windows([spec])[0]

    def create_windows(self, specs: Sequence[WindowSpec]) -> list[CreatedWindow]:
        """Create windows, each with remain-on-exit set before its program can exit.

        Windows in sessions that exist are created in one round trip (one per ~70 windows,
        tmux's command-line limit); each missing session costs one more (tmux cannot branch on
        whether a session exists).
        """
        existing = self._session_names()
        created: dict[int, CreatedWindow] = {}
        batch = [i for i, s in enumerate(specs) if s.session_name in existing]
        missing = [i for i, s in enumerate(specs) if s.session_name not in existing]
        for index in missing:
            if specs[index].session_name in existing:  # made by an earlier spec of this call
                batch.append(index)
                continue
            try:
                created[index] = self._parse_created(self._run_starting(self._new_session(specs[index])))[0]
            except TmuxError as error:
                if "duplicate session" not in str(error):
                    raise
                batch.append(index)  # another worker created it a moment ago
            existing.add(specs[index].session_name)
        if batch:
            lines = self._run_grouped(self._new_window(specs[i]) for i in batch)
            for index, window in zip(batch, self._parse_created(lines)):
                created[index] = window
        return [created[i] for i in range(len(specs))]

    def session_ids(self) -> set[str]:
        try:
            return set(self.run([["list-sessions", "-F", "#{session_id}"]]))
        except TmuxNotRunning:
            return set()

    def _session_names(self) -> set[str]:
        try:
            return set(self.run([["list-sessions", "-F", "#{session_name}"]]))
        except TmuxNotRunning:
            return set()

    @staticmethod
    def _literal(value: str) -> str:
        """`value` as tmux takes it literally where it expands formats (a window's name and
        directory): `#(...)` there would run a command, `#{...}` be replaced."""
        return value.replace("#", "##")

    @staticmethod
    def _env_args(env: dict[str, str]) -> list[str]:
        return [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]

    def _new_session(self, spec: WindowSpec) -> list[list[str]]:
        target = f"={spec.session_name}:{{end}}"
        return [
            ["new-session", "-d", "-P", "-F", CREATED_FORMAT, "-s", self._literal(spec.session_name),
             "-n", self._literal(spec.window_name), "-c", self._literal(spec.cwd),
             "-x", DEFAULT_SIZE[0], "-y", DEFAULT_SIZE[1],
             *self._env_args(spec.env), spec.command],
            ["set-option", "-w", "-t", target, "remain-on-exit", "on"],
            # A client that attaches later (a person's terminal) brings none of its variables in.
            ["set-option", "-g", "update-environment", ""],
        ]

    def _new_window(self, spec: WindowSpec) -> list[list[str]]:
        # `{end}` resolves when each command runs, so the option lands on the new window.
        target = f"={spec.session_name}:{{end}}"
        return [
            ["new-window", "-d", "-a", "-t", target, "-P", "-F", CREATED_FORMAT,
             "-n", self._literal(spec.window_name), "-c", self._literal(spec.cwd), *self._env_args(spec.env),
             spec.command],
            ["set-option", "-w", "-t", target, "remain-on-exit", "on"],
        ]

    @staticmethod
    def _parse_created(lines: list[str]) -> list[CreatedWindow]:
        windows = []
        for line in lines:
            session_id, window_id, pane_id, pid = line.split(SEP)
            windows.append(CreatedWindow(session_id, window_id, pane_id, int(pid)))
        return windows

    def respawn(self, pane_id: str, *, command: str, cwd: str, env: dict[str, str]) -> int:
        """Replace whatever runs in the pane with `command`; return the new pid."""
        lines = self.run(
            [
                ["respawn-pane", "-k", "-t", pane_id, "-c", self._literal(cwd), *self._env_args(env), command],
                ["display-message", "-p", "-t", pane_id, "#{pane_pid}"],
            ]
        )
        return int(lines[-1])

    def kill_window(self, window_id: str) -> None:
        """Remove the window; one that is already gone is not an error."""
        try:
            self.run([["kill-window", "-t", window_id]])
        except (TargetNotFound, TmuxNotRunning):
            pass

    # -- reading panes --------------------------------------------------------------------
    def list_panes(self) -> list[PaneInfo]:
        """Every pane of the server, in one round trip; empty when no server runs."""
        try:
            lines = self.run([["list-panes", "-a", "-F", PANE_FORMAT]])
        except TmuxNotRunning:
            return []
        # A session or window name we did not create may hold the separator: left out.
        panes = [pane for pane in map(_pane_info, lines) if pane is not None]
        if any(pane.dead and pane.dead_status is None for pane in panes):
            self._nudge_child_reaping()
        return panes

    def _nudge_child_reaping(self) -> None:
        """tmux 3.3 can miss a pane program's exit and never learn its status; any other
        child of the server exiting makes it collect them all, so the next look has it."""
        try:
            self.run([["run-shell", "true"]])
        except TmuxError:
            pass

    def capture_panes(self, pane_ids: Sequence[str], *, history: int = 0, colours: bool = False) -> dict[str, str]:
        """The visible screen (plus `history` lines above it) of each pane, in one round trip
        (one per ~170 panes, tmux's command-line limit); with `colours`, with the escape
        sequences of its colours and attributes.

        Panes that no longer exist are left out of the result.
        """
        screens = self._capture(pane_ids, history, lambda pane_id: "", colours=colours)
        return {pane_id: screen for pane_id, (_, screen) in screens.items()}

    def look_at_panes(self, pane_ids: Sequence[str]) -> dict[str, tuple[PaneInfo, str]]:
        """What `list_panes` says of each pane, with its screen: in one round trip for the
        panes asked about, whatever else the server runs. Gone panes are left out."""
        looks = self._capture(pane_ids, 0, lambda pane_id: PANE_FORMAT, by_target=True)
        return {pane_id: (pane, screen) for pane_id, (info, screen) in looks.items()
                if (pane := _pane_info(info)) is not None}

    def _capture(self, pane_ids, history: int, heading, by_target: bool = False,
                 colours: bool = False) -> dict[str, tuple[str, str]]:
        """{pane id: (its heading line, its screen)}; the heading is displayed before each capture."""
        if not pane_ids:
            return {}
        marker = f"\x1e{secrets.token_hex(4)}"
        start = ["-S", str(-history)] if history else []
        # Short command names fit more panes on one command line. display-message runs its
        # text through strftime: `%12` would come back as `  %12`.
        groups = [
            [["display", "-p", *(["-t", pane_id] if by_target else []), f"{marker}{pane_id.replace('%', '%%')} "
              f"{heading(pane_id)}"], ["capturep", "-pJet" if colours else "-pJt", pane_id, *start]]
            for pane_id in pane_ids
        ]
        try:
            lines = self._run_grouped(groups)
        except TargetNotFound:
            alive = {p.pane_id for p in self.list_panes()}
            alive_ids = [p for p in pane_ids if p in alive]
            return self._capture(alive_ids, history, heading, by_target, colours) if alive else {}
        screens: dict[str, tuple[str, list[str]]] = {}
        current: list[str] | None = None
        for line in lines:
            if line.startswith(marker):
                pane_id, _, info = line[len(marker):].partition(" ")
                current = screens.setdefault(pane_id, (info, []))[1]
            elif current is not None:
                current.append(line)
        return {pane_id: (info, "\n".join(text)) for pane_id, (info, text) in screens.items()}

    def follow_output(self, session_id: str) -> OutputFollower:
        """A control-mode client on the session, telling which of its panes print."""
        return OutputFollower(self.server, session_id)

    # -- typing ---------------------------------------------------------------------------
    def type_text(self, pane_id: str, text: str) -> None:
        """Type `text` into the pane as exactly these bytes, without submitting it.

        The text goes through a tmux paste buffer, so tmux reads none of it as key names,
        options or command separators; line feeds stay line feeds (`-r`) and programs that
        asked for bracketed paste get it (`-p`), so a multi-line text is one input.
        """
        if not text:
            return
        buffer = f"orc-{secrets.token_hex(8)}"
        with tempfile.NamedTemporaryFile(prefix="tmux-orc-", delete=False) as handle:
            handle.write(text.encode("utf-8", "surrogateescape"))
        try:
            self.run(
                [
                    ["load-buffer", "-b", buffer, handle.name],
                    ["paste-buffer", "-d", "-p", "-r", "-b", buffer, "-t", pane_id],
                ]
            )
        except TmuxError:
            self._delete_buffer(buffer)
            raise
        finally:
            os.unlink(handle.name)

    def _delete_buffer(self, buffer: str) -> None:
        try:
            self.run([["delete-buffer", "-b", buffer]])
        except TmuxError:
            pass

    def send_keys(self, pane_id: str, *keys: str, repeat: int = 1) -> None:
        """Press keys by their tmux names (`Enter`, `Escape`, `C-c`), `repeat` times over."""
        self.run([["send-keys", "-t", pane_id, *(["-N", str(repeat)] if repeat > 1 else []), *keys]])

    def kill_server(self) -> None:
        try:
            self.run([["kill-server"]])
        except (TmuxNotRunning, TargetNotFound):
            pass


@dataclass
class Printed:
    """What a control-mode client read: the panes that printed, whether windows came or
    went, and whether the client is gone (its session closed, the server stopped)."""

    panes: set[str] = field(default_factory=set)
    windows_changed: bool = False
    closed: bool = False


class OutputFollower:
    """A tmux control-mode client attached to one session (tmux reports output only for the
    panes of the session a control client is on). It is read-only and ignores size, so a
    person attached to the session sees nothing change."""

    def __init__(self, server: libtmux.Server, session_id: str):
        self.session_id = session_id
        socket = ["-S", str(server.socket_path)] if server.socket_path else ["-L", str(server.socket_name or "default")]
        self.process = subprocess.Popen(
            [shutil.which("tmux") or "tmux", *socket, "-C", "attach-session", "-f", "ignore-size,read-only",
             "-t", session_id],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
        )
        os.set_blocking(self.process.stdout.fileno(), False)
        self._partial = b""

    def fileno(self) -> int:
        return self.process.stdout.fileno()

    def read(self) -> Printed:
        """What arrived since the last read; call when `fileno()` is readable."""
        printed = Printed()
        try:
            data = os.read(self.fileno(), 1 << 16)
        except BlockingIOError:
            return printed
        printed.closed = not data
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if line.startswith(b"%output "):
                printed.panes.add(line.split(b" ", 2)[1].decode("ascii", "replace"))
            elif line.startswith((b"%window-", b"%unlinked-window-", b"%layout-change", b"%session-window")):
                printed.windows_changed = True
            elif line.startswith(b"%exit"):
                printed.closed = True
        return printed

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdin.close()
        self.process.stdout.close()


def local_gateway() -> Gateway:
    """The tmux server this host's agents run in (`TMUX_ORC_TMUX_SOCKET`)."""
    from django.conf import settings

    from agents.environment import base_environment

    return Gateway(socket_name=settings.TMUX_ORC.tmux_socket, environment=base_environment())


def shell_command(argv: Sequence[str]) -> str:
    """A command line for a pane that `exec`s the program, so the pane runs it directly."""
    return "exec " + shlex.join(argv)
