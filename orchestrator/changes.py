"""A doorbell for the live stream: "rows changed, look again".

The rows (agent events, messages, live screens) are the truth, and the stream reads them
from the database, so several web processes serve the same stream and nothing is lost if
a ring is. With Redis (REDIS_URL), a writer rings once its transaction commits and every
stream wakes at once; without it (the embedded default, SQLite), streams look every
QUIET_POLL seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time

from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)
CHANNEL = "tmux-orc:changes"
QUIET_POLL = 0.25  # seconds between looks without a doorbell
RUNG_POLL = 5.0  # with one: a look anyway this often, in case a ring was lost
_client = None
_failed_at = 0.0


def _redis():
    global _client
    if _client is None:
        import redis

        _client = redis.Redis.from_url(settings.TMUX_ORC.redis_url, socket_timeout=1, socket_connect_timeout=1)
    return _client


def rows_changed() -> None:
    """Ring once the current transaction commits (at once outside one). A ring that fails
    is logged now and then and otherwise ignored: streams look anyway, a little later."""
    if settings.TMUX_ORC.redis_url:
        transaction.on_commit(_ring)


def _ring() -> None:
    global _failed_at
    try:
        _redis().publish(CHANNEL, b"1")
    except Exception as error:  # noqa: BLE001 - the writer's work is done; the stream catches up
        if time.monotonic() - _failed_at > 60:
            log.warning("could not ring the stream's doorbell on Redis: %s", error)
        _failed_at = time.monotonic()


class Doorbell:
    """What a stream waits on between looks."""

    def __init__(self):
        self._pubsub = None

    async def wait(self) -> None:
        if not settings.TMUX_ORC.redis_url:
            await asyncio.sleep(QUIET_POLL)
            return
        try:
            if self._pubsub is None:
                import redis.asyncio

                self._pubsub = redis.asyncio.Redis.from_url(settings.TMUX_ORC.redis_url).pubsub()
                await self._pubsub.subscribe(CHANNEL)
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=RUNG_POLL)
            while message is not None:  # one look for every ring that came meanwhile
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0)
        except Exception as error:  # noqa: BLE001 - without Redis the stream polls
            log.warning("the stream's doorbell on Redis failed (%s); looking every %s s", error, QUIET_POLL)
            await self.close()
            await asyncio.sleep(QUIET_POLL)

    async def close(self) -> None:
        if self._pubsub is not None:
            pubsub, self._pubsub = self._pubsub, None
            try:
                await pubsub.aclose()
            except Exception:  # noqa: BLE001
                pass
