"""What code that waits does with its database connection."""

from django.db import connection, connections


def connection_release() -> None:
    """Give this thread's connection back to its pool, for code about to sleep between
    reads: a hundred requests waiting on `?wait=` then share a few connections instead of
    holding one each. The next query borrows one again. Kept inside a transaction (closing
    would end it) and without a pool (every read would reconnect)."""
    if getattr(connection, "pool", None) is not None and not connection.in_atomic_block:
        connection.close()


def connections_close_all() -> None:
    """Close every connection this process opened, and its pools: for a process that
    touches the database only now and then (the supervisor of `tmux-orc server start`)."""
    for conn in connections.all(initialized_only=True):
        conn.close()
        if getattr(conn, "pool", None) is not None:
            conn.close_pool()
