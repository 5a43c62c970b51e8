"""The live stream: state changes, message status changes and (for one agent) its screen,
as server-sent events from the web process.

It reads rows, not a message bus: agent events by their time, messages by when their status
changed, the live screen by when the watcher last saved it. Any web process can serve any
stream, and a client that reconnects with `Last-Event-ID` carries on where it was. Between
looks it waits on orchestrator/changes.py's doorbell.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agents.models import Agent, AgentEvent, Message
from monitoring.models import PaneScreen
from orchestrator.changes import Doorbell

# A row is stamped when it is written and seen when its transaction commits: each look goes
# back this far, and what was already sent is not sent again.
OVERLAP = timedelta(seconds=2)
KEEPALIVE = 15.0  # seconds between comments that keep proxies from closing a quiet stream
WANT_SCREEN_FOR = timedelta(seconds=30)  # the watcher keeps a followed screen fresh this long
RENEW_WANT = 10.0  # seconds between renewals while the stream is open
PREVIEW = 200  # characters of a message's body in its events


@dataclass
class Follow:
    """What one stream follows, and how far it got."""

    agent: Agent | None  # None: every agent
    screen: bool
    since: datetime  # the newest item sent
    floor: datetime  # where the stream started: nothing at or before it is sent
    sent: dict[tuple, datetime] = field(default_factory=dict)  # item key: its time, within OVERLAP

    def fresh(self, items: list[dict]) -> list[dict]:
        items = [item for item in items if item["key"] not in self.sent and item["at"] > self.floor]
        for item in items:
            self.sent[item["key"]] = item["at"]
            self.since = max(self.since, item["at"])
        horizon = self.since - OVERLAP
        self.sent = {key: at for key, at in self.sent.items() if at > horizon}
        return sorted(items, key=lambda item: item["at"])


def stream_start(*, agent: Agent | None, screen: bool, last_event_id: str = "") -> Follow:
    """Where a stream starts: after `Last-Event-ID` if the client sends one, else now.
    Messages are sent with the status they have when looked at: one that moved on twice
    between two looks (a quarter of a second apart, less with Redis) shows the second only."""
    since = parse_datetime(last_event_id) if last_event_id else None
    if since is None or timezone.is_naive(since):
        since = timezone.now()
    if screen and agent is not None:
        _want_screen(agent)
    return Follow(agent=agent, screen=screen, since=since, floor=since)


def _want_screen(agent: Agent) -> None:
    PaneScreen.objects.update_or_create(agent=agent, defaults={"wanted_until": timezone.now() + WANT_SCREEN_FOR})


def changes_since(follow: Follow) -> list[dict]:
    """The events, message changes and screen newer than the stream's position."""
    after = follow.since - OVERLAP
    events = AgentEvent.objects.filter(created_at__gt=after).select_related("agent").order_by("created_at", "id")
    messages = Message.objects.filter(changed_at__gt=after).select_related("agent").order_by("changed_at", "id")
    if follow.agent is not None:
        events, messages = events.filter(agent=follow.agent), messages.filter(agent=follow.agent)
    items = [_state_item(event) for event in events[:500]] + [_message_item(message) for message in messages[:500]]
    if follow.screen and follow.agent is not None:
        screen = PaneScreen.objects.filter(agent=follow.agent, changed_at__gt=after).first()
        if screen is not None:
            items.append({"event": "screen", "key": ("screen", screen.changed_at), "at": screen.changed_at,
                          "data": {"target": follow.agent.target, "screen": screen.text}})
    return follow.fresh(items)


def _state_item(event: AgentEvent) -> dict:
    return {"event": "state", "key": ("state", event.pk), "at": event.created_at, "data": {
        "target": event.agent.target, "agent_id": event.agent_id, "from_state": event.from_state,
        "to_state": event.to_state, "signal": event.signal, "reason": event.reason,
        "at": event.created_at.isoformat()}}


def _message_item(message: Message) -> dict:
    return {"event": "message", "key": ("message", message.pk, message.changed_at), "at": message.changed_at,
            "data": {"id": message.pk, "target": message.agent.target, "kind": message.kind,
                     "status": message.status, "urgent": message.urgent, "error": message.error,
                     "body_preview": message.body[:PREVIEW], "received_exactly": message.received_exactly,
                     "at": message.changed_at.isoformat()}}


def _sse(item: dict) -> str:
    return f"id: {item['at'].isoformat()}\nevent: {item['event']}\ndata: {json.dumps(item['data'])}\n\n"


def _look(follow: Follow, renew: bool) -> list[dict]:
    """One look, in a thread of its own; its connection goes back (to the pool) after."""
    try:
        if renew:
            _want_screen(follow.agent)
        return changes_since(follow)
    finally:
        connection.close()


async def stream_events(follow: Follow) -> AsyncIterator[str]:
    """The stream itself: until the client goes away."""
    doorbell = Doorbell()
    look = sync_to_async(_look, thread_sensitive=False)
    spoke = renewed = time.monotonic()
    try:
        yield "retry: 2000\n: following agents' states, messages" + (" and screen" if follow.screen else "") + "\n\n"
        while True:
            renew = follow.screen and time.monotonic() - renewed > RENEW_WANT
            renewed = time.monotonic() if renew else renewed
            for item in await look(follow, renew):
                spoke = time.monotonic()
                yield _sse(item)
            if time.monotonic() - spoke > KEEPALIVE:
                spoke = time.monotonic()
                yield ": keepalive\n\n"
            await doorbell.wait()
    finally:
        await doorbell.close()
