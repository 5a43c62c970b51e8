"""Fixtures of the tests that start the README's run command."""

import pytest

from bench.service import Service


@pytest.fixture
def service(tmp_path):
    """bin/run with its own data directory, tmux server and port; stopped, and its tmux
    server killed, at the end."""
    running = Service(tmp_path)
    try:
        running.start()
        yield running
    finally:
        running.close()
