"""`--watch` for people: show a command's output again every few seconds until Ctrl-C."""

from __future__ import annotations

import time
from collections.abc import Callable

CLEAR = "\x1b[H\x1b[2J"


def add_watch_argument(parser) -> None:
    parser.add_argument("--watch", nargs="?", type=float, const=2.0, metavar="SECONDS",
                        help="show it again every SECONDS (default 2) until Ctrl-C")


def watch(write: Callable[[str], None], render: Callable[[], str], every: float | None) -> None:
    """Write `render()` once, or again and again every `every` seconds."""
    if not every:
        write(render())
        return
    try:
        while True:
            write(f"{CLEAR}{time.strftime('%H:%M:%S')}  (every {every:g} s; Ctrl-C to stop)\n\n{render()}")
            time.sleep(max(0.5, every))
    except KeyboardInterrupt:
        write("")
