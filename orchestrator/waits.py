"""Requests that wait (`?wait=`, MCP waits, standups) each hold a thread of the web process
while they do. At most `TMUX_ORC_MAX_WAITS` wait at once in a process; one more is answered
429 at once rather than leaving every other request without a thread.
"""

from __future__ import annotations

import functools
import threading
from contextlib import contextmanager

from django.conf import settings

from orchestrator.errors import Busy


@functools.cache
def _slots() -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(settings.TMUX_ORC.max_waits)


@contextmanager
def wait_slot():
    """Hold one of the process's slots for waiting, or raise Busy (429) if none is free."""
    slots = _slots()
    if not slots.acquire(blocking=False):
        raise Busy(f"{settings.TMUX_ORC.max_waits} requests are already waiting here (TMUX_ORC_MAX_WAITS); "
                   "ask again without wait, or in a moment")
    try:
        yield
    finally:
        slots.release()
