"""The machines that run agents, and where a new agent goes.

Each host runs one worker (and its watcher) for its own queue and tmux server. A host is
live while its worker has said so lately; `auto` places an agent on the live host with the
fewest live agents. Nothing is placed on a host that is down: its worker could not start it.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from agents.models import Agent, AgentState, Host
from orchestrator.config import HOST_NAME, HOST_RULE
from orchestrator.errors import Conflict, InvalidInput

AUTO = "auto"
HOST_RE = re.compile(rf"^{HOST_NAME}$")  # as TMUX_ORC_AGENT_HOST allows


def stale_after() -> timedelta:
    """How long a worker may be silent before its host counts as down: three sweeps and a margin."""
    return timedelta(seconds=3 * settings.TMUX_ORC.health_check_interval + 10)


def host_seen(name: str) -> None:
    """The worker of `name` is alive (called by each of its sweeps and when it starts)."""
    load = {"load_1m": None, "load_5m": None, "load_15m": None, "cpus": os.cpu_count()}
    try:
        load.update(zip(("load_1m", "load_5m", "load_15m"), (round(v, 2) for v in os.getloadavg())))
    except OSError:  # no load average on this system
        pass
    values = {"worker_seen_at": timezone.now(), "load": load}
    if not Host.objects.filter(name=name).update(**values):
        Host.objects.update_or_create(name=name, defaults=values)


def worker_alive(host: Host) -> bool:
    return timezone.now() - host.worker_seen_at <= stale_after()


def live_hosts() -> list[str]:
    """Hosts whose worker was seen lately, by name."""
    since = timezone.now() - stale_after()
    return list(Host.objects.filter(worker_seen_at__gte=since).values_list("name", flat=True))


def live_agents_by_host() -> Counter:
    rows = Agent.objects.exclude(state=AgentState.STOPPED).values("host").annotate(n=Count("id")).order_by()
    return Counter({row["host"]: row["n"] for row in rows})


def hosts_choose(requested: list[str | None], field: str = "host") -> list[str]:
    """The host for each of `requested` agents: the named host, or for `auto` (and for none
    given, when the default `TMUX_ORC_DEFAULT_HOST` is `auto`) the live host with the fewest
    live agents, counting the ones placed before it in the list. A host whose worker is not
    alive is refused, naming the hosts that are."""
    names = [name or settings.TMUX_ORC.default_host for name in requested]
    for name in names:
        if not HOST_RE.match(name):
            raise InvalidInput(f"{field}: {name!r} is not a host name ({HOST_RULE}) or 'auto'")
    live = sorted(live_hosts())
    alive = "; live hosts: " + ", ".join(live) if live else "; no host's worker is alive (start one: tmux-orc server start)"
    down = sorted(set(names) - {AUTO} - set(live))
    if down:
        raise Conflict(f"{field}: the worker of host {', '.join(down)} is not alive{alive}")
    if AUTO not in names:
        return names
    if not live:
        raise Conflict(f"{field}: auto found no live host{alive}")
    load = live_agents_by_host()
    chosen = []
    for name in names:
        if name == AUTO:
            name = min(live, key=lambda host: (load[host], host))
        load[name] += 1
        chosen.append(name)
    return chosen


def host_choose(requested: str | None, field: str = "host") -> str:
    return hosts_choose([requested], field)[0]
