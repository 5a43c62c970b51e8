"""How one long-running watcher can learn that any of N agent panes printed something, on real tmux.

Run: .venv/bin/python bench/watch_sources.py [--agents 200] [--per-session 10] [--window 10]

Starts a private tmux server (its own TMUX_TMPDIR and a random -L socket) with N panes, in
sessions of --per-session windows. Each pane runs a small Python loop that, while a mode file
exists, prints `T <time.monotonic()>` every 0.1 s and is otherwise silent. Three candidates
are set up in turn on the same panes and read by this process:
  control  - one `tmux -C attach` client per session, reading its %output lines;
  pipe     - `pipe-pane -O 'exec cat > FIFO'` per pane, reading the FIFOs;
  sampling - capture-pane of every pane in one invocation, 4 times a second, diffed.
For each it prints the latency from a line being printed to this process seeing it (p50, p99,
max), the CPU (% of one core) of this process + its helpers + the tmux server above the
server's own cost with nobody watching, over --window seconds with all panes idle and with all
printing, and the helpers' count and RSS. Kills the server at the end; asserts nothing.
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
TICKS = os.sysconf("SC_CLK_TCK")


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


class Tmux:
    def __init__(self, socket: str):
        self.base = ["tmux", "-L", socket]

    def __call__(self, *args: str) -> str:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, check=True).stdout

    def batch(self, commands: list[list[str]]) -> None:
        for line in invocations(commands):
            self(*line)


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


def rss_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0
    return int(re.search(r"VmRSS:\s+(\d+)", status)[1]) if "VmRSS" in status else 0


def children(parent: int, comm: str) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().rsplit(")", 1)
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(rest.split()[1]) == parent and name.split("(", 1)[1] == comm:
            found.append(int(stat.parent.name))
    return found


def stamps(lines: list[bytes]) -> list[float]:
    return [float(m[1]) for line in lines if (m := STAMP.search(line))]


class Lines:
    """Splits byte streams into complete lines, one stream per key."""

    def __init__(self):
        self.rest: dict[object, bytes] = defaultdict(bytes)

    def feed(self, key: object, data: bytes) -> list[bytes]:
        *lines, self.rest[key] = (self.rest[key] + data).split(b"\n")
        return lines


class Control:
    name = "control mode"

    def __init__(self, tmux: Tmux, sessions: list[str], panes: list[str]):
        self.clients = [subprocess.Popen([*tmux.base, "-C", "attach", "-t", f"={s}"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for s in sessions]
        self.selector, self.streams, self.panes, self.exits = selectors.DefaultSelector(), Lines(), Lines(), []
        for client in self.clients:
            self.selector.register(client.stdout.fileno(), selectors.EVENT_READ)

    def poll(self, timeout: float) -> list[tuple[bytes, float, float]]:
        found = []
        for key, _ in self.selector.select(timeout):
            data, now = os.read(key.fd, 1 << 16), time.monotonic()
            if not data:
                self.selector.unregister(key.fd)
                self.exits.append("EOF")
            for line in self.streams.feed(key.fd, data):
                if line.startswith(b"%output "):
                    _, pane, text = line.split(b" ", 2)
                    text = OCTAL.sub(lambda m: bytes([int(m[1], 8)]), text)
                    found += [(pane, s, now) for s in stamps(self.panes.feed(pane, text))]
                elif line.startswith(b"%exit"):
                    self.exits.append(line.decode(errors="replace"))
        return found

    def helpers(self) -> list[int]:
        return [c.pid for c in self.clients]

    def stop(self) -> None:
        for client in self.clients:
            client.stdin.close()  # EOF on stdin detaches a control client
        for client in self.clients:
            try:
                client.wait(2)
            except subprocess.TimeoutExpired:
                client.kill()
                client.wait()
            client.stdout.close()
        self.selector.close()


class Pipe:
    name = "pipe-pane FIFOs"

    def __init__(self, tmux: Tmux, panes: list[str], workdir: Path, server: int):
        self.tmux, self.panes, self.server, self.exits = tmux, panes, server, []
        self.selector, self.streams, self.fifos = selectors.DefaultSelector(), Lines(), {}
        commands = []
        for pane in panes:  # open every FIFO first, so no cat blocks on its open
            path = workdir / f"fifo-{pane[1:]}"
            os.mkfifo(path)
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            self.fifos[fd] = (pane.encode(), path)
            self.selector.register(fd, selectors.EVENT_READ)
            commands.append(["pipe-pane", "-O", "-t", pane, f"exec cat > {path}"])
        tmux.batch(commands)

    def poll(self, timeout: float) -> list[tuple[bytes, float, float]]:
        found = []
        for key, _ in self.selector.select(timeout):
            data, now = os.read(key.fd, 1 << 16), time.monotonic()
            if not data:  # the cat went away
                self.selector.unregister(key.fd)
                self.exits.append(self.fifos[key.fd][0].decode())
            found += [(self.fifos[key.fd][0], s, now) for s in stamps(self.streams.feed(key.fd, data))]
        return found

    def helpers(self) -> list[int]:
        return children(self.server, "cat")

    def stop(self) -> None:
        self.tmux.batch([["pipe-pane", "-t", pane] for pane in self.panes])  # a bare pipe-pane closes it
        deadline = time.monotonic() + 3
        while self.helpers() and time.monotonic() < deadline:
            time.sleep(0.05)
        for fd, (_, path) in self.fifos.items():
            os.close(fd)
            path.unlink()
        self.selector.close()


class Sampling:
    name = "capture-pane 4/s"

    def __init__(self, tmux: Tmux, panes: list[str]):
        self.panes, self.exits = [p.encode() for p in panes], []
        self.lines = [[*tmux.base, *line] for line in
                      invocations([["display", "-p", MARK.decode(), ";", "capturep", "-p", "-t", p] for p in panes])]
        self.previous: dict[bytes, bytes] = {}
        self.next = time.monotonic()

    def capture(self) -> bytes:
        return b"".join(subprocess.run(line, capture_output=True, check=True).stdout for line in self.lines)

    def poll(self, timeout: float) -> list[tuple[bytes, float, float]]:
        wait = self.next - time.monotonic()
        if wait > timeout:
            time.sleep(timeout)
            return []
        time.sleep(max(0.0, wait))
        self.next = max(self.next + 0.25, time.monotonic())
        screens, now, found = self.capture().split(MARK + b"\n")[1:], time.monotonic(), []
        for pane, screen in zip(self.panes, screens):
            old, self.previous[pane] = self.previous.get(pane), screen
            if old is not None and screen != old:
                new = set(stamps(screen.split(b"\n"))) - set(stamps(old.split(b"\n")))
                found += [(pane, s, now) for s in new]
        return found

    def helpers(self) -> list[int]:
        return []

    def transient_rss_kb(self) -> int:
        process = subprocess.Popen(self.lines[0], stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        return usage.ru_maxrss

    def stop(self) -> None:
        pass


def watch(source, seconds: float, latencies: list[float] | None = None, seen: set | None = None) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        for pane, stamp, seen_at in source.poll(left):
            if latencies is not None:
                latencies.append(seen_at - stamp)
                seen.add(pane)


def cpu_percent(server: int, helpers: list[int], action) -> dict[str, float]:
    """% of one core used during `action` by this process, its helpers and the tmux server."""
    def snapshot():
        t = os.times()
        return (t.user + t.system, t.children_user + t.children_system,
                sum(map(cpu_ticks, helpers)) / TICKS, cpu_ticks(server) / TICKS, time.monotonic())
    before = snapshot()
    action()
    own, waited, helper, srv, elapsed = (a - b for a, b in zip(snapshot(), before))
    return {"reader": own / elapsed * 100, "helpers": (helper + waited) / elapsed * 100, "server": srv / elapsed * 100}


def start_fleet(tmux: Tmux, agents: int, per_session: int, workdir: Path) -> tuple[list[str], list[str]]:
    script = workdir / "pane.py"
    script.write_text(PANE_PROGRAM)
    program = f"exec {sys.executable} -I -S -u {script} {workdir / 'printing'}"
    sessions = [f"s{i:02d}" for i in range((agents + per_session - 1) // per_session)]
    for n, session in enumerate(sessions):
        count = min(per_session, agents - n * per_session)
        tmux.batch([["new-session", "-d", "-s", session, "-x", "80", "-y", "24", program]]
                   + [["new-window", "-d", "-t", f"{session}:", program]] * (count - 1))
    return sessions, tmux("list-panes", "-a", "-F", "#{pane_id}").split()


def median_ms(action, repeat: int = 20) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


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
        tmux = Tmux(f"watch-bench-{secrets.token_hex(4)}")
        try:
            run(tmux, args, Path(tmpdir))
        finally:
            subprocess.run([*tmux.base, "kill-server"], capture_output=True)


def run(tmux: Tmux, args, workdir: Path) -> None:
    sessions, panes = start_fleet(tmux, args.agents, args.per_session, workdir)
    server, printing = int(tmux("display", "-p", "#{pid}")), workdir / "printing"
    look = ["display", "-p", "-t", f"={sessions[0]}:", "attached=#{session_attached} size=#{window_width}x#{window_height}"]
    time.sleep(3)  # let the pane programs start
    list_ms = median_ms(lambda: tmux("list-panes", "-a"))
    base_idle = cpu_percent(server, [], lambda: time.sleep(args.window))["server"]
    printing.touch()
    time.sleep(0.5)
    base_busy = cpu_percent(server, [], lambda: time.sleep(args.window))["server"]
    printing.unlink()
    time.sleep(0.5)
    notes, rows = [f"before any watcher: {sessions[0]} {tmux(*look).strip()}"], []
    for make in (lambda: Control(tmux, sessions, panes), lambda: Pipe(tmux, panes, workdir, server),
                 lambda: Sampling(tmux, panes)):
        source = make()
        try:
            watch(source, 1.0)  # attached / connected, first captures taken
            if isinstance(source, Control):
                clients = tmux("list-clients", "-F", "#{client_width}x#{client_height} #{client_flags}").splitlines()
                notes.append(f"with control clients: {sessions[0]} {tmux(*look).strip()}; "
                             f"{len(clients)} clients, first: {clients[0] if clients else '-'}")
            helpers = source.helpers()
            idle = cpu_percent(server, helpers, lambda: watch(source, args.window))
            printing.touch()
            watch(source, 0.5)
            latencies, seen = [], set()
            busy = cpu_percent(server, helpers, lambda: watch(source, args.window, latencies, seen))
            printing.unlink()
            watch(source, 0.5)
            rss = sum(map(rss_kb, helpers)) if helpers else source.transient_rss_kb()
            count = str(len(helpers)) if helpers else "0 (+1 per tick)"
            rows.append((source.name, sorted(latencies), len(seen), idle, busy, count, rss))
            if source.exits:
                notes.append(f"{source.name}: streams that ended early: {source.exits[:5]} ({len(source.exits)})")
        finally:
            source.stop()
        if isinstance(source, Control):
            notes.append(f"after control clients left: {sessions[0]} {tmux(*look).strip()}")
    print_report(args, rows, notes, list_ms, base_idle, base_busy)


def print_report(args, rows, notes, list_ms, base_idle, base_busy) -> None:
    expected = args.agents * 10 * args.window
    print(f"{args.agents} panes in sessions of {args.per_session}; printing = every pane prints a line every 0.1 s "
          f"(~{expected:.0f} lines per {args.window:.0f} s window)\n")
    print(f"{'candidate':<18} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'samples':>8} {'panes':>6}")
    for name, lat, seen, *_ in rows:
        pct = [lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan") for q in (0.5, 0.99, 1.0)]
        print(f"{name:<18} {pct[0]:>7.1f} {pct[1]:>7.1f} {pct[2]:>7.1f} {len(lat):>8} {seen:>6}")
    print("\nCPU, % of one core: total = reader + helpers + server above its baseline")
    print(f"{'candidate':<18} {'idle':>28} {'printing':>28} {'helpers':>16} {'RSS MB':>7}")
    for name, _, _, idle, busy, count, rss in rows:
        cells = []
        for cpu, base in ((idle, base_idle), (busy, base_busy)):
            parts = (cpu["reader"], cpu["helpers"], cpu["server"] - base)
            cells.append(f"{sum(parts):5.1f} = {parts[0]:4.1f} + {parts[1]:4.1f} + {parts[2]:5.1f}")
        print(f"{name:<18} {cells[0]:>28} {cells[1]:>28} {count:>16} {rss / 1024:>7.1f}")
    print(f"\ntmux server baseline, nobody watching: {base_idle:.1f}% idle, {base_busy:.1f}% printing")
    print(f"list-panes -a (median of 20, process start included): {list_ms:.1f} ms")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
