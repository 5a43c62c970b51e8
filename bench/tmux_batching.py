"""How much batching tmux commands saves: one round trip for many panes against one per pane.

Run: .venv/bin/python bench/tmux_batching.py [--panes 200] [--repeat 5]

Starts a private tmux server (its own TMUX_TMPDIR and a random -L socket), creates the panes
through the gateway, prints median wall times, and kills the server at the end. It asserts
nothing; the figures are for people.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The gateway imports Django only inside local_gateway(), which this script does not call,
# so it needs no settings and no django.setup().
from agents.gateway import Gateway, WindowSpec, shell_command  # noqa: E402

SLEEPER = shell_command(["sleep", "1000"])


class CountingGateway(Gateway):
    """A gateway that counts its tmux invocations (every one goes through `run`)."""

    invocations = 0

    def run(self, commands):
        self.invocations += 1
        return super().run(commands)


def timed(
    gateway: CountingGateway, action: Callable[[], object], repeat: int, before: Callable[[], object] | None = None
) -> tuple[float, int]:
    """Median wall time of `action` over `repeat` runs, and the tmux invocations of one run.

    `before` runs untimed ahead of each.
    """
    times, invocations = [], 0
    for _ in range(repeat):
        if before is not None:
            before()
        start_count, start = gateway.invocations, time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
        invocations = gateway.invocations - start_count
    return statistics.median(times), invocations


def specs(session: str, count: int, cwd: str) -> list[WindowSpec]:
    return [WindowSpec(session, f"w{i}", SLEEPER, cwd=cwd) for i in range(count)]


class CreateBench:
    """Creates `count` windows in a session that exists, then removes the session again."""

    def __init__(self, gateway: Gateway, count: int, cwd: str):
        self.gateway, self.count, self.cwd = gateway, count, cwd
        self.session = ""

    def prepare(self) -> None:
        self.session = f"create-{secrets.token_hex(3)}"
        self.gateway.create_window(WindowSpec(self.session, "first", SLEEPER, cwd=self.cwd))

    def batched(self) -> None:
        self.gateway.create_windows(specs(self.session, self.count, self.cwd))
        self._remove()

    def one_at_a_time(self) -> None:
        for spec in specs(self.session, self.count, self.cwd):
            self.gateway.create_window(spec)
        self._remove()

    def _remove(self) -> None:
        self.gateway.run([["kill-session", "-t", f"={self.session}"]])


def measure(gateway: CountingGateway, panes: int, repeat: int, cwd: str) -> list[tuple[str, float, int]]:
    """(label, median seconds, tmux invocations) for each operation."""
    pane_ids = [w.pane_id for w in gateway.create_windows(specs("bench", panes, cwd))]

    def capture_one_by_one() -> None:
        for pane_id in pane_ids:
            gateway.run([["capture-pane", "-p", "-t", pane_id]])

    create = CreateBench(gateway, panes, cwd)
    # Both create timings include listing sessions and the one kill-session that removes them.
    return [
        ("list_panes (all panes)", *timed(gateway, gateway.list_panes, repeat)),
        (f"capture_panes of {panes}, batched", *timed(gateway, lambda: gateway.capture_panes(pane_ids), repeat)),
        (f"capture-pane x {panes}, one per pane", *timed(gateway, capture_one_by_one, repeat)),
        (f"create_windows of {panes}, batched", *timed(gateway, create.batched, repeat, create.prepare)),
        (f"create_window x {panes}, one at a time", *timed(gateway, create.one_at_a_time, repeat, create.prepare)),
    ]


def print_table(rows: list[tuple[str, float, int]], panes: int) -> None:
    width = max(len(label) for label, _, _ in rows)
    print(f"{'operation':<{width}}  {'median ms':>10}  {'ms / pane':>10}  {'tmux runs':>9}")
    for label, seconds, runs in rows:
        print(f"{label:<{width}}  {seconds * 1000:>10.1f}  {seconds * 1000 / panes:>10.3f}  {runs:>9}")
    capture_batched, capture_each, create_batched, create_each = (seconds for _, seconds, _ in rows[1:])
    print()
    print(f"capture: one per pane is {capture_each / capture_batched:.1f}x the batched time")
    print(f"create:  one at a time is {create_each / create_batched:.1f}x the batched time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tmux-bench-") as tmpdir:
        os.environ["TMUX_TMPDIR"] = tmpdir  # never the user's server, whatever -L says
        os.environ.pop("TMUX", None)
        gateway = CountingGateway(socket_name=f"orc-bench-{secrets.token_hex(4)}")
        try:
            rows = measure(gateway, args.panes, args.repeat, cwd=tmpdir)
        finally:
            gateway.kill_server()
    print(f"{args.panes} panes running `sleep 1000`, median of {args.repeat} runs, tmux server on a private socket")
    print()
    print_table(rows, args.panes)


if __name__ == "__main__":
    main()
