"""The host's watcher: tmux tells it which agent panes print, and it has them looked at
when their output settles, so a change of state is written within a fraction of a second.

It keeps one tmux control-mode client per session that holds this host's agents (tmux
reports output only for the session a control client is on) and knows nothing of agents
beyond "this pane printed": what the pane's screen means is `panes_observe`'s, the same
reading as the sweep's. Why control mode rather than `pipe-pane`: see bench/watch_sources.py
and the README.

When to look at a pane that printed:
- a burst is over: no output for SETTLE seconds (the end of a turn, a prompt drawn);
- a quiet pane started printing: FIRST_LOOK seconds after, to catch the start of work;
- a pane that never stops (a spinner): at most every EVERY seconds (LIVE_EVERY for a screen
  someone follows on the live stream);
- something else than the screen (delivery, a hook) just changed its state: within REFRESH
  seconds, in case the program has moved on meanwhile.
"""

from __future__ import annotations

import logging
import math
import selectors
import time
from dataclasses import dataclass

from django.db import DatabaseError, close_old_connections

from agents.gateway import Gateway, OutputFollower, TmuxError
from agents.models import Agent
from monitoring.services import (
    WATCHED_STATES,
    followed_panes,
    panes_observe,
    panes_told_lately,
    watcher_heartbeat,
)

log = logging.getLogger(__name__)
SETTLE = 0.15
FIRST_LOOK = 0.05
EVERY = 1.0
LIVE_EVERY = 0.25  # for a pane whose screen someone follows live
GAP = 0.1  # seconds at least between two looks: output of many panes is looked at in batches
GATHER = 0.02  # seconds output is let gather between reads when nothing is due
REFRESH = 1.0  # seconds between looks at which sessions hold the host's agents
RETRY = 1.0  # seconds before looking again at panes whose look failed
COST_EVERY = 30.0  # seconds between records of the watcher's own CPU use


@dataclass
class Printing:
    first: float  # when the pane printed first since it was last looked at
    last: float  # when it printed last


class Watcher:
    """Follows the tmux sessions of `host`'s agents until `stop()`."""

    def __init__(self, *, host: str, gateway: Gateway):
        self.host, self.gateway = host, gateway
        self.followers: dict[str, OutputFollower] = {}
        self.printing: dict[str, Printing] = {}
        self.looked_at: dict[str, float] = {}
        self.again: dict[str, float] = {}  # pane: when to look at it again, printing or not
        self.followed: set[str] = set()  # panes whose screens someone follows live
        self.told: set[int] = set()  # events told by delivery or a hook whose pane was looked at again
        self.selector = selectors.DefaultSelector()
        self.refresh_at = 0.0
        self.next_look = math.inf  # when the first pane may be due (never later than that)
        self.looked = 0.0  # when the last look was
        self.cost_since = (time.monotonic(), time.thread_time())  # wall and CPU time at the last record
        self._stopping = False

    def run(self) -> None:
        try:
            while not self._stopping:
                self.step()
        finally:
            for follower in list(self.followers.values()):
                self._drop(follower)

    def stop(self) -> None:
        self._stopping = True

    def step(self) -> None:
        """Wait for output (or the next look that is due), then look at what is due."""
        now = time.monotonic()
        if now >= self.refresh_at:
            self._refresh()
        look_at = max(self.next_look, self.looked + GAP)
        timeout = max(0.0, min(self.refresh_at, look_at) - time.monotonic())
        if not self.followers:
            time.sleep(timeout)  # nothing to follow yet
        for key, _ in self.selector.select(timeout) if self.followers else []:
            if self.followers.get(key.fileobj.session_id) is key.fileobj:  # not dropped meanwhile
                self._read(key.fileobj)
        now = time.monotonic()
        if now < max(self.next_look, self.looked + GAP):
            # Output only, nothing due yet: let more gather, so busy panes cost a read a batch,
            # not a read a line (walking every pane would cost more still).
            time.sleep(GATHER)
            return
        due = self._due(now)
        if due:
            self._look(due)
        self.next_look = min(self._times_due(), default=math.inf)

    def _record_cost(self) -> None:
        """Every COST_EVERY seconds, the share of a core this watcher used since the last time."""
        wall, cpu = time.monotonic(), time.thread_time()
        if wall - self.cost_since[0] < COST_EVERY:
            return
        percent = 100 * (cpu - self.cost_since[1]) / (wall - self.cost_since[0])
        self.cost_since = (wall, cpu)
        try:
            watcher_heartbeat(host=self.host, cpu_percent=percent, panes=len(self.looked_at))
        except DatabaseError as error:
            log.warning("could not record the watcher's cost: %s", error)
            close_old_connections()

    # -- output ---------------------------------------------------------------------------
    def _read(self, follower: OutputFollower) -> None:
        printed = follower.read()
        now = time.monotonic()
        for pane_id in printed.panes:
            if pane_id in self.printing:
                self.printing[pane_id].last = now  # due later, if anything: next_look stays a lower bound
            else:
                self.printing[pane_id] = Printing(now, now)
                self.next_look = min(self.next_look, self._due_at(pane_id, self.printing[pane_id]))
        if printed.windows_changed:
            self.refresh_at = now
        if printed.closed:
            self._drop(follower)
            self.refresh_at = min(self.refresh_at, now + REFRESH)

    def _times_due(self) -> list[float]:
        """When each pane that printed (or is to be looked at again) will be due for a look."""
        return [*self.again.values(), *(self._due_at(pane_id, p) for pane_id, p in self.printing.items())]

    def _due_at(self, pane_id: str, printing: Printing) -> float:
        every = LIVE_EVERY if pane_id in self.followed else EVERY
        return min(printing.last + SETTLE, max(printing.first + FIRST_LOOK, self.looked_at.get(pane_id, 0.0) + every))

    def _due(self, now: float) -> list[str]:
        due = [pane_id for pane_id, when in self.again.items() if when <= now]
        due += [pane_id for pane_id, printing in self.printing.items() if self._due_at(pane_id, printing) <= now]
        return list(dict.fromkeys(due))

    def _look(self, pane_ids: list[str]) -> None:
        now = self.looked = time.monotonic()
        for pane_id in pane_ids:
            self.printing.pop(pane_id, None)
            self.again.pop(pane_id, None)
            self.looked_at[pane_id] = now
        try:
            again = panes_observe(host=self.host, pane_ids=pane_ids, gateway=self.gateway)
        except (DatabaseError, TmuxError) as error:
            log.warning("could not look at %d panes: %s", len(pane_ids), error)
            close_old_connections()
            again = dict.fromkeys(pane_ids, RETRY)
        for pane_id, seconds in again.items():
            self.again[pane_id] = now + seconds
            self.next_look = min(self.next_look, now + seconds)

    # -- sessions -------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Follow the sessions that hold the host's agents now; a new one is looked at whole."""
        self.refresh_at = time.monotonic() + REFRESH
        self._record_cost()
        try:
            panes = dict(Agent.objects.filter(host=self.host, state__in=WATCHED_STATES)
                         .exclude(tmux_pane_id="").values_list("tmux_pane_id", "tmux_session_id"))
            sessions = set(panes.values()) & self.gateway.session_ids()
            followed = followed_panes(host=self.host)
            told = panes_told_lately(host=self.host, seconds=3 * REFRESH)
        except (DatabaseError, TmuxError) as error:
            log.warning("could not list the sessions to follow: %s", error)
            close_old_connections()
            return
        for pane_id in {pane for event, pane in told.items() if event not in self.told}:
            self.again[pane_id] = self.next_look = time.monotonic()  # is the screen still saying so?
        self.told = set(told)
        for pane_id in followed - self.followed:
            self.again[pane_id] = self.next_look = time.monotonic()  # a screen just asked for: look now
        self.followed = followed
        self.looked_at = {pane_id: at for pane_id, at in self.looked_at.items() if pane_id in panes}
        for session_id in sessions - set(self.followers):
            follower = self.gateway.follow_output(session_id)
            self.followers[session_id] = follower
            self.selector.register(follower, selectors.EVENT_READ)
            now = time.monotonic()
            for pane_id in (pane for pane, session in panes.items() if session == session_id):
                self.again[pane_id] = self.next_look = now
        for session_id in set(self.followers) - sessions:
            self._drop(self.followers[session_id])

    def _drop(self, follower: OutputFollower) -> None:
        if self.followers.get(follower.session_id) is follower:
            del self.followers[follower.session_id]
        try:
            self.selector.unregister(follower)
        except (KeyError, ValueError):
            pass
        follower.close()
