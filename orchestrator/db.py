"""What code that waits does with its database connection."""

from django.db import connection


def connection_release() -> None:
    """Give this thread's connection back to its pool, for code about to sleep between
    reads: a hundred requests waiting on `?wait=` then share a few connections instead of
    holding one each. The next query borrows one again. Kept inside a transaction (closing
    would end it) and without a pool (every read would reconnect)."""
    if getattr(connection, "pool", None) is not None and not connection.in_atomic_block:
        connection.close()
