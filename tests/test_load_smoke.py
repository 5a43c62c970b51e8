"""The Locust file (tests/load/test_mcp_endpoints.py) against the README's run command:
20 users for 30 s on the REST API and /mcp, with no request failing and every message
typed. Locust runs in a process of its own: importing it patches a process with gevent.
The driver is bench/load.py; `python bench/load.py` is the longer run that prints the figures."""

from __future__ import annotations

import sys

import pytest

from bench.load import load

pytestmark = [pytest.mark.smoke, pytest.mark.timeout(240)]

LOAD = {"users": 20, "spawn_rate": 10, "seconds": 30, "agents": 4}


def test_twenty_users_on_the_api_and_mcp_for_thirty_seconds_get_no_errors(service, tmp_path):
    figures = load(service.base_url, service.token, workdir=tmp_path / "load", settle_for=30, **LOAD)

    print(figures.report())
    assert figures.problems() == [], "\n".join([*figures.problems(), figures.report(), figures.output[-3000:],
                                                service.recent_output(40)])
    assert {"/messages/send", "/teams/[team]/broadcast", "mcp tools/call agents_status"} <= {
        r.name for r in figures.rows if r.requests}, figures.report()
    assert "locust" not in sys.modules and "gevent" not in sys.modules  # only in Locust's own process
