"""Requests per token and minute, for the REST API and /mcp alike: a loop in an agent's pane
(or a runaway script) is answered 429 instead of filling its host's queue.

An agent's own token may make `TMUX_ORC_AGENT_RATE_LIMIT` requests a minute, a person's
`TMUX_ORC_RATE_LIMIT` (0: no limit). Counted in fixed one-minute windows in Django's cache
(Redis when the broker is Redis, so every web process counts together).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

WINDOW = 60  # seconds


def token_limit(token) -> int:
    """Requests a minute `token` may make; 0 for no limit."""
    orc = settings.TMUX_ORC
    return orc.agent_rate_limit if token.agent_id else orc.rate_limit


def token_wait(token) -> float | None:
    """None if `token` may make one more request now (it is counted); else the seconds until
    it may."""
    limit = token_limit(token)
    if not limit:
        return None
    now = time.time()
    window = int(now // WINDOW)
    key = f"tmux-orc:rate:{token.digest[:16]}:{window}"  # the digest: unique, even across databases
    cache.add(key, 0, timeout=WINDOW * 2)
    try:
        count = cache.incr(key)
    except ValueError:  # gone between add and incr (evicted): this is its first request again
        cache.set(key, 1, timeout=WINDOW * 2)
        count = 1
    if count <= limit:
        return None
    return (window + 1) * WINDOW - now


def refusal(token, seconds: float) -> str:
    return (f"too many requests with token {token.name!r}: at most {token_limit(token)} a minute; "
            f"try again in {seconds:.0f} s")


class TokenRateThrottle(BaseThrottle):
    """DRF's throttle hook over `token_wait`."""

    def allow_request(self, request, view) -> bool:
        token = getattr(request, "auth", None)
        if not hasattr(token, "agent_id"):  # no token: only open endpoints get this far
            return True
        self._wait = token_wait(token)
        return self._wait is None

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)
