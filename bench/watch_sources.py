"""How one long-running watcher can learn that any of N agent panes printed something, on real tmux.

Run: .venv/bin/python bench/watch_sources.py [--agents 200] [--per-session 10] [--window 10]

Starts a private tmux server (its own TMUX_TMPDIR and a random -L socket) with N panes in
sessions of --per-session windows. Each pane runs a small Python loop that, while a mode file
exists, prints `T <time.monotonic()>` every 0.1 s and is otherwise silent. Three candidates are
set up in turn on the same panes and read by this one process:
  control mode     - one `tmux -C attach` client per session, reading their %output lines;
  pipe-pane FIFOs  - `pipe-pane -O 'exec cat > FIFO'` per pane, reading the FIFOs;
  capture-pane 4/s - capture-pane of every pane in one invocation, 4 times a second, diffed.
For each it prints the latency from a line being printed to this process seeing it (p50, p99,
max); the CPU (% of one core, from /proc/<pid>/schedstat) of this process + its helpers + the
tmux server above the server's own cost with nobody watching, over --window seconds with all
panes idle and with all printing; and the helpers' count and RSS. Kills the server at the end
and waits for it and the pane programs to go. It asserts nothing; the figures are for people.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

PANE_PROGRAM = """import os, sys, time
while True:
    if os.path.exists(sys.argv[1]):
        print("T %.6f" % time.monotonic())
    time.sleep(0.1)
"""
STAMP = re.compile(rb"T (\d+\.\d+)")
OCTAL = re.compile(rb"\\([0-7]{3})")  # control mode writes bytes < 32 and `\` as \ooo
MARK = b"@@"


def invocations(commands: list[list[str]], limit: int = 15000) -> list[list[str]]:
    """Chain commands with `;` into as few tmux command lines as fit its ~16 kB limit."""
    lines, size = [[]], 0
    for command in commands:
        length = sum(len(arg) + 1 for arg in command) + 2
        if lines[-1] and size + length > limit:
            lines, size = lines + [[]], 0
        lines[-1] += ([";"] if lines[-1] else []) + command
        size += length
    return lines


def proc(pid: int | str, name: str) -> str:
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def cpu_s(pid: int | str) -> float:
    """CPU time a (single-threaded) process has used, in seconds, to the nanosecond."""
    return int((proc(pid, "schedstat") or "0").split()[0]) / 1e9


def alive(pid: int) -> bool:
    return proc(pid, "stat").rsplit(") ", 1)[-1][:1] not in ("", "Z")  # a zombie has gone too


def rss_kb(pid: int) -> int:
    found = re.search(r"VmRSS:\s+(\d+)", proc(pid, "status"))
    return int(found[1]) if found else 0


def children(parent: int, comm: str) -> list[int]:
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    return [pid for pid in pids if (stat := proc(pid, "stat")) and stat.split(" (")[1].rsplit(") ", 1)[0] == comm
            and int(stat.rsplit(") ", 1)[1].split()[1]) == parent]


def stamps(lines: list[bytes]) -> list[float]:
    return [float(m[1]) for line in lines if (m := STAMP.search(line))]


class Tmux:
    def __init__(self, socket: str):
        self.base, self.pids = ["tmux", "-L", socket], []  # server and pane programs, once started

    def __call__(self, *args: str) -> str:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, check=True).stdout

    def batch(self, commands: list[list[str]]) -> None:
        for line in invocations(commands):
            self(*line)

    def kill(self) -> str:
        """kill-server, then wait up to 10 s for the server and the pane programs to be gone."""
        start = time.monotonic()
        subprocess.run([*self.base, "kill-server"], capture_output=True)
        while (left := [pid for pid in self.pids if alive(pid)]) and time.monotonic() - start < 10:
            time.sleep(0.05)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        return f"teardown: server and {len(self.pids) - 1} pane programs gone {time.monotonic() - start:.1f} s " \
               f"after kill-server" + (f", {len(left)} had to be killed" if left else "")


class Streams:
    """Reads many non-blocking fds with one selector and splits each into lines."""

    def __init__(self):
        self.selector, self.rest, self.exits = selectors.DefaultSelector(), defaultdict(bytes), []

    def lines(self, key: object, data: bytes) -> list[bytes]:
        *lines, self.rest[key] = (self.rest[key] + data).split(b"\n")
        return lines

    def poll(self, timeout: float) -> list[tuple[bytes, float, float]]:
        found = []
        for key, _ in self.selector.select(timeout):
            data, now = os.read(key.fd, 1 << 16), time.monotonic()
            if not data:  # the writer went away
                self.selector.unregister(key.fd)
                self.exits.append(key.fd)
            found += [(pane, stamp, now) for pane, stamp in self.handle(key.fd, data)]
        return found

    def helpers(self) -> list[int]:
        return []

    def stop(self) -> None:
        self.selector.close()


class Control(Streams):
    name = "control mode"

    def __init__(self, tmux: Tmux, sessions: list[str]):
        super().__init__()
        self.clients = [subprocess.Popen([*tmux.base, "-C", "attach", "-t", f"={s}"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for s in sessions]
        for client in self.clients:
            self.selector.register(client.stdout.fileno(), selectors.EVENT_READ)

    def handle(self, fd: int, data: bytes) -> list[tuple[bytes, float]]:
        found = []
        for line in self.lines(fd, data):
            if line.startswith(b"%output "):
                _, pane, text = line.split(b" ", 2)
                text = OCTAL.sub(lambda m: bytes([int(m[1], 8)]), text)
                found += [(pane, stamp) for stamp in stamps(self.lines(pane, text))]
            elif line.startswith(b"%exit"):
                self.exits.append(line.decode(errors="replace"))
        return found

    def helpers(self) -> list[int]:
        return [client.pid for client in self.clients]

    def stop(self) -> None:
        for client in self.clients:
            client.stdin.close()  # EOF on its stdin makes a control client detach and exit
        for client in self.clients:
            try:
                client.wait(2)
            except subprocess.TimeoutExpired:
                client.kill()
                client.wait()
            client.stdout.close()
        super().stop()


class Pipe(Streams):
    name = "pipe-pane FIFOs"

    def __init__(self, tmux: Tmux, panes: list[str], workdir: Path):
        super().__init__()
        self.tmux, self.panes, self.fifos, commands = tmux, panes, {}, []
        for pane in panes:  # every FIFO open for reading first, so no cat blocks opening it
            path = workdir / f"fifo-{pane[1:]}"
            os.mkfifo(path)
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            self.fifos[fd] = (pane.encode(), path)
            self.selector.register(fd, selectors.EVENT_READ)
            commands.append(["pipe-pane", "-O", "-t", pane, f"exec cat > {path}"])
        tmux.batch(commands)

    def handle(self, fd: int, data: bytes) -> list[tuple[bytes, float]]:
        return [(self.fifos[fd][0], stamp) for stamp in stamps(self.lines(fd, data))]

    def helpers(self) -> list[int]:
        return children(self.tmux.pids[0], "cat")

    def stop(self) -> None:
        self.tmux.batch([["pipe-pane", "-t", pane] for pane in self.panes])  # a bare pipe-pane closes it
        deadline = time.monotonic() + 3
        while self.helpers() and time.monotonic() < deadline:
            time.sleep(0.05)
        for fd, (_, path) in self.fifos.items():
            os.close(fd)
            path.unlink()
        super().stop()


class Sampling(Streams):
    name = "capture-pane 4/s"

    def __init__(self, tmux: Tmux, panes: list[str]):
        super().__init__()
        self.panes, self.previous, self.next = [p.encode() for p in panes], {}, time.monotonic()
        self.commands = [[*tmux.base, *line] for line in
                         invocations([["display", "-p", MARK.decode(), ";", "capturep", "-p", "-t", p] for p in panes])]

    def poll(self, timeout: float) -> list[tuple[bytes, float, float]]:
        if (wait := self.next - time.monotonic()) > timeout:
            time.sleep(timeout)
            return []
        time.sleep(max(0.0, wait))
        self.next = max(self.next + 0.25, time.monotonic())
        output = b"".join(subprocess.run(line, capture_output=True, check=True).stdout for line in self.commands)
        now, found = time.monotonic(), []
        for pane, screen in zip(self.panes, output.split(MARK + b"\n")[1:]):
            old, self.previous[pane] = self.previous.get(pane), screen
            if old is not None and screen != old:
                new = set(stamps(screen.split(b"\n"))) - set(stamps(old.split(b"\n")))
                found += [(pane, stamp, now) for stamp in new]
        return found


def watch(source, seconds: float, latencies: list[float] | None = None, seen: set | None = None) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        for pane, stamp, seen_at in source.poll(left):
            if latencies is not None:
                latencies.append(seen_at - stamp)
                seen.add(pane)


def cpu_percent(server: int, helpers: list[int], action) -> tuple[float, float, float]:
    """% of one core used during `action` by this process, by its helpers (short-lived children
    included) and by the tmux server."""
    def snapshot():
        times = os.times()
        return (cpu_s("self"), times.children_user + times.children_system + sum(map(cpu_s, helpers)),
                cpu_s(server), time.monotonic())
    before = snapshot()
    action()
    *used, elapsed = (a - b for a, b in zip(snapshot(), before))
    return tuple(u / elapsed * 100 for u in used)


def start_fleet(tmux: Tmux, agents: int, per_session: int, workdir: Path) -> tuple[list[str], list[str]]:
    (workdir / "pane.py").write_text(PANE_PROGRAM)
    program = f"exec {sys.executable} -I -S -u {workdir / 'pane.py'} {workdir / 'printing'}"
    sessions = [f"s{i:02d}" for i in range((agents + per_session - 1) // per_session)]
    for n, session in enumerate(sessions):
        windows = min(per_session, agents - n * per_session)
        tmux.batch([["new-session", "-d", "-s", session, "-x", "80", "-y", "24", program]]
                   + [["new-window", "-d", "-t", f"{session}:", program]] * (windows - 1))
    tmux.pids = [int(tmux("display", "-p", "#{pid}"))]
    panes = []
    for line in tmux("list-panes", "-a", "-F", "#{pane_id} #{pane_pid}").splitlines():
        pane, pid = line.split()
        panes.append(pane)
        tmux.pids.append(int(pid))
    return sessions, panes


def elapsed_ms(action) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def run(tmux: Tmux, args, workdir: Path) -> list[str]:
    sessions, panes = start_fleet(tmux, args.agents, args.per_session, workdir)
    server, printing = tmux.pids[0], workdir / "printing"
    look = ["display", "-p", "-t", f"={sessions[0]}:", "session_attached=#{session_attached} "
            "window=#{window_width}x#{window_height}"]
    time.sleep(3)  # let the pane programs start
    list_ms = statistics.median(elapsed_ms(lambda: tmux("list-panes", "-a")) for _ in range(20))
    notes = [f"list-panes -a (median of 20, process start included): {list_ms:.1f} ms"]
    baseline = [cpu_percent(server, [], lambda: time.sleep(args.window))[2]]
    printing.touch()
    time.sleep(0.5)
    baseline.append(cpu_percent(server, [], lambda: time.sleep(args.window))[2])
    printing.unlink()
    time.sleep(0.5)
    notes += [f"tmux server baseline, nobody watching: {baseline[0]:.1f}% idle, {baseline[1]:.1f}% printing",
              f"{sessions[0]} before any watcher: {tmux(*look).strip()}"]
    rows = []
    for make in (lambda: Control(tmux, sessions), lambda: Pipe(tmux, panes, workdir), lambda: Sampling(tmux, panes)):
        source = make()
        try:
            watch(source, 1.0)  # clients attached, cats connected, a first capture taken
            if isinstance(source, Control):
                clients = tmux("list-clients", "-F", "#{client_width}x#{client_height} #{client_flags}").splitlines()
                notes.append(f"{sessions[0]} with control clients: {tmux(*look).strip()}; {len(clients)} clients, "
                             f"first: {clients[0] if clients else '-'}")
            helpers = source.helpers()
            idle = cpu_percent(server, helpers, lambda: watch(source, args.window))
            printing.touch()
            watch(source, 0.5)
            latencies, seen = [], set()
            busy = cpu_percent(server, helpers, lambda: watch(source, args.window, latencies, seen))
            printing.unlink()
            watch(source, 0.5)
            rss = f"{sum(map(rss_kb, helpers)) / 1024:.1f}" if helpers else "-"
            rows.append((source.name, sorted(latencies), len(seen), idle, busy,
                         str(len(helpers)) if helpers else "1 per tick", rss))
            if source.exits:
                notes.append(f"{source.name}: {len(source.exits)} streams ended early: {source.exits[:4]}")
        finally:
            source.stop()
        if isinstance(source, Control):
            notes.append(f"{sessions[0]} after control clients left: {tmux(*look).strip()}")
    return report(args, rows, baseline) + notes


def report(args, rows, baseline) -> list[str]:
    out = [f"{args.agents} panes in sessions of {args.per_session}; printing: each pane prints a line every 0.1 s "
           f"(~{args.agents * 10 * args.window:.0f} lines per {args.window:.0f} s window)", "",
           f"{'candidate':<17} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'samples':>8} {'panes':>6}"]
    for name, lat, seen, *_ in rows:
        p = [lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan") for q in (0.5, 0.99, 1.0)]
        out.append(f"{name:<17} {p[0]:>7.1f} {p[1]:>7.1f} {p[2]:>7.1f} {len(lat):>8} {seen:>6}")
    out += ["", "CPU, % of one core: total = reader + helpers + server above its baseline",
            f"{'candidate':<17} {'idle':>26} {'printing':>26} {'helpers':>11} {'RSS MB':>7}"]
    for name, _, _, idle, busy, count, rss in rows:
        cells = []
        for (reader, helper, server), base in ((idle, baseline[0]), (busy, baseline[1])):
            total = reader + helper + server - base
            cells.append(f"{total:5.1f} = {reader:4.1f} + {helper:4.1f} + {server - base:5.1f}")
        out.append(f"{name:<17} {cells[0]:>26} {cells[1]:>26} {count:>11} {rss:>7}")
    return out + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--per-session", type=int, default=10)
    parser.add_argument("--window", type=float, default=10.0, help="seconds of each CPU window")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with tempfile.TemporaryDirectory(prefix="tmux-watch-") as tmpdir:
        os.environ["TMUX_TMPDIR"] = tmpdir  # never the user's server, whatever -L says
        os.environ.pop("TMUX", None)
        tmux, lines = Tmux(f"watch-bench-{secrets.token_hex(4)}"), []
        try:
            lines = run(tmux, args, Path(tmpdir))
        finally:
            lines.append(tmux.kill())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
