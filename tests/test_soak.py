"""Soak on the embedded default (SQLite, the filesystem broker): the README's run command
under three minutes of load, with and without its worker being killed. The driver is
bench/soak.py; `python bench/soak.py --minutes 10` is the longer run of the same."""

from __future__ import annotations

import pytest

from bench.soak import soak

pytestmark = pytest.mark.soak

LOAD = {"duration": 180, "agents": 20, "messages": 2000, "burst": 50}


def verdict(figures, service) -> str:
    return "\n".join([*figures.problems(), figures.report(), service.recent_output(80)])


@pytest.mark.timeout(540)
def test_three_minutes_of_load_type_every_message_exactly_once(service):
    figures = soak(service, **LOAD)

    print(figures.report())
    assert figures.problems() == [], verdict(figures, service)
    assert figures.delivered == LOAD["messages"], verdict(figures, service)
    assert figures.children_after == figures.children_before  # no process of the service died
    assert figures.status_reads > 100 and figures.churn, verdict(figures, service)


# Each kill hits a worker that has run 15 s (a crash, not a failed start), which the
# supervisor starts again after 1 s. Were it to wait longer (its pause doubles, up to 30 s,
# for a process failing as it starts), the backlog would stretch this past six minutes.
@pytest.mark.timeout(720)
def test_a_worker_killed_ten_times_under_load_loses_nothing_and_types_nothing_twice(service):
    figures = soak(service, **LOAD, kill_worker_times=10)

    print(figures.report())
    assert figures.worker_kills == 10 and figures.worker_restarts_seen == 10, verdict(figures, service)
    assert figures.problems() == [], verdict(figures, service)
    assert figures.delivered == LOAD["messages"], verdict(figures, service)
