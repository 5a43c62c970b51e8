"""Delivering messages into agents' panes, in the worker of the agent's host.

A message is typed at most once: every step is recorded on its row (claimed, typed,
submitted, delivered), and a worker that takes over from one that died looks at the
pane before doing anything again. `delivered` means the screen showed the agent took the
text: its input no longer holds it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.utils import timezone

from agents.gateway import Gateway, TmuxError, local_gateway
from agents.models import Agent, AgentState, Message, MessageKind, MessageStatus, Signal
from agents.profiles import Profile, get_profile
from agents.screens import classify_screen, input_text

log = logging.getLogger(__name__)
POLL = 0.03  # seconds between looks at the pane while typing: a delivery holds a worker process
MAX_SUBMIT_PRESSES = 3
RESUBMIT_AFTER = 2.0  # seconds the text may sit in the input before Enter is pressed again
LEASE = timedelta(minutes=10)  # a claim this old is taken over even if its process lives


class DeliveryFailed(Exception):
    """The message cannot be delivered; the text says why."""


def _me() -> str:
    """Who is delivering: host, process and thread (a worker may run jobs in threads)."""
    return f"{settings.TMUX_ORC.agent_host}:{os.getpid()}.{threading.get_ident()}"


def _claimer_alive(claimed_by: str) -> bool:
    host, _, worker = claimed_by.rpartition(":")
    pid, _, thread = worker.partition(".")
    if host != settings.TMUX_ORC.agent_host or not pid.isdigit():
        return True  # another host's process: only the lease can tell
    if int(pid) == os.getpid():
        # This process: alive if it is another of its threads, still running; otherwise an
        # earlier job here stopped part-way.
        running = {t.ident for t in threading.enumerate()} - {threading.get_ident()}
        return thread.isdigit() and int(thread) in running
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def deliver_pending(*, agent_id: int, gateway: Gateway | None = None) -> None:
    """Deliver the agent's waiting messages in order, while it can take them."""
    agent = Agent.objects.filter(pk=agent_id).first()
    if agent is None:
        return
    if agent.state == AgentState.STOPPED:
        _fail_waiting(agent, "the agent was killed")
        return
    profile = get_profile(agent.profile)
    if not agent.tmux_pane_id or profile is None:
        return  # not started yet: the spawn enqueues delivery again once it has a window
    gateway = gateway or local_gateway()
    while (message := next_message(agent)) is not None:
        if not _deliver(agent, message, profile, gateway):
            return


def next_message(agent: Agent) -> Message | None:
    """The one in flight, else the briefing, else urgent ones, else the oldest."""
    waiting = agent.messages.filter(status__in=[MessageStatus.QUEUED, MessageStatus.DELIVERING])
    return waiting.annotate(
        in_flight=Case(When(status=MessageStatus.DELIVERING, then=Value(0)), default=Value(1),
                       output_field=IntegerField()),
        briefing=Case(When(kind=MessageKind.BRIEFING, then=Value(0)), default=Value(1), output_field=IntegerField()),
    ).order_by("in_flight", "briefing", "-urgent", "created_at", "id").first()


def _fail_waiting(agent: Agent, reason: str) -> None:
    agent.messages.filter(status__in=[MessageStatus.QUEUED, MessageStatus.DELIVERING]).update(
        status=MessageStatus.FAILED, error=reason
    )


def _deliver(agent: Agent, message: Message, profile: Profile, gateway: Gateway) -> bool:
    """Take `message` as far as it can go now; True if it reached a final status."""
    try:
        # The pane, by id and in the agent's own window, with its screen: one round trip.
        pane, screen = gateway.look_at_panes([agent.tmux_pane_id]).get(agent.tmux_pane_id, (None, ""))
        if pane is None or (pane.session_name, pane.window_name) != (agent.session_name, agent.name):
            raise DeliveryFailed(f"the window of {agent.target} is gone")
        state = classify_screen(screen, profile)
        busy = state != AgentState.IDLE or took_message_lately(agent, profile)
        if message.status == MessageStatus.QUEUED:
            if _expired(message):
                return True
            # A permission prompt waits for its answer, even for urgent messages.
            if busy and not (message.urgent and state != AgentState.WAITING_APPROVAL):
                return False  # the sweep brings it back when the agent is idle
            if not _claim(message):
                return False
        elif not _take_over(message):
            return False
        if message.urgent and busy and message.typed_at is None:
            screen = _interrupt(agent, message, profile, gateway)
        _type_once(agent, message, profile, gateway, screen)
        _submit(agent, message, profile, gateway)
    except (DeliveryFailed, TmuxError) as error:
        _record(message, status=MessageStatus.FAILED, error=str(error)[:1000])
        log.warning("message %s to %s failed: %s", message.pk, agent.target, error)
    return True


def took_message_lately(agent: Agent, profile: Profile) -> bool:
    """The agent took a message less than its profile's `busy_after_submit` ago: a program
    that shows its work late (opencode) is busy then, whatever its screen says."""
    if not profile.busy_after_submit:
        return False
    since = timezone.now() - timedelta(seconds=profile.busy_after_submit)
    return agent.messages.filter(status=MessageStatus.DELIVERED, delivered_at__gt=since).exists()


def _screen(gateway: Gateway, agent: Agent) -> str:
    screen = gateway.capture_panes([agent.tmux_pane_id]).get(agent.tmux_pane_id)
    if screen is None:
        raise DeliveryFailed(f"the window of {agent.target} is gone")
    return screen


def _expired(message: Message) -> bool:
    age = (timezone.now() - (message.not_before or message.created_at)).total_seconds()
    if age <= settings.TMUX_ORC.message_expiry:
        return False
    Message.objects.filter(pk=message.pk, status=MessageStatus.QUEUED).update(
        status=MessageStatus.EXPIRED, error=f"not delivered within {settings.TMUX_ORC.message_expiry:.0f} s"
    )
    return True


def _claim(message: Message) -> bool:
    """Make `message` the agent's one message in flight. The database refuses a second
    `delivering` message for an agent, so a job racing another one's delivery waits:
    the job in flight goes on to the next message when it is done."""
    try:
        with transaction.atomic():
            claimed = Message.objects.filter(pk=message.pk, status=MessageStatus.QUEUED).update(
                status=MessageStatus.DELIVERING, claimed_at=timezone.now(), claimed_by=_me(),
                attempts=F("attempts") + 1)
    except IntegrityError:
        claimed = 0
    message.refresh_from_db()
    return bool(claimed)


def _take_over(message: Message) -> bool:
    """A message left `delivering` by a worker that died is continued, not restarted."""
    if _claimer_alive(message.claimed_by) and timezone.now() - message.claimed_at < LEASE:
        return False
    taken = Message.objects.filter(pk=message.pk, status=MessageStatus.DELIVERING,
                                   claimed_by=message.claimed_by).update(
        claimed_by=_me(), claimed_at=timezone.now(), attempts=F("attempts") + 1
    )
    message.refresh_from_db()
    if taken:
        _note(message, f"taken over from {message.claimed_by or 'a worker'} that stopped")
    return bool(taken)


def _record(message: Message, **fields) -> None:
    Message.objects.filter(pk=message.pk).update(**fields)
    for field, value in fields.items():
        setattr(message, field, value)


def _note(message: Message, line: str) -> None:
    stamp = timezone.now().strftime("%H:%M:%S")
    _record(message, delivery_log=f"{message.delivery_log}{stamp} {line}\n")


def _wait(gateway: Gateway, agent: Agent, condition, seconds: float) -> str | None:
    """The screen once `condition(screen)` holds, or None after `seconds`."""
    deadline = time.monotonic() + seconds
    for pause in _pauses():
        screen = _screen(gateway, agent)
        if condition(screen):
            return screen
        if time.monotonic() > deadline:
            return None
        time.sleep(pause)


def _pauses():
    """Short first: a shell or a program redraws within milliseconds of a key, and a delivery
    holds a worker process while it waits; then every POLL."""
    yield from (0.005, 0.01, 0.02)
    while True:
        yield POLL


def _interrupt(agent: Agent, message: Message, profile: Profile, gateway: Gateway) -> str:
    """Stop the agent's work; the settled screen after it."""
    _press_one_by_one(gateway, agent, profile.interrupt_keys)
    _note(message, f"urgent: pressed {' '.join(profile.interrupt_keys)} to interrupt")
    ready = lambda s: classify_screen(s, profile) == AgentState.IDLE  # noqa: E731
    if _wait(gateway, agent, ready, settings.TMUX_ORC.delivery_timeout) is None:
        raise DeliveryFailed("the agent did not stop working after the interrupt")
    # Claude Code draws its prompt first and puts the interrupted text back a moment later:
    # let the screen settle, so that text is seen (and cleared) before ours is typed.
    return _wait_until_still(gateway, agent, STILL_FOR)


KEY_GAP = 0.3  # seconds between the keys of a sequence: two Escapes sent together reach a
# program as one Alt-Escape (opencode wants two, the first only arms the second)


def _press_one_by_one(gateway: Gateway, agent: Agent, keys: tuple[str, ...]) -> None:
    for index, key in enumerate(keys):
        if index:
            time.sleep(KEY_GAP)
        gateway.send_keys(agent.tmux_pane_id, key)


STILL_FOR = 0.6  # seconds a screen must stay the same to count as settled


def _wait_until_still(gateway: Gateway, agent: Agent, still_for: float, timeout: float = 5.0) -> str:
    """The screen once it stayed the same `still_for` seconds (the last one after `timeout`)."""
    deadline = time.monotonic() + timeout
    last, since = _screen(gateway, agent), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(POLL)
        screen = _screen(gateway, agent)
        if screen != last:
            last, since = screen, time.monotonic()
        elif time.monotonic() - since >= still_for:
            break
    return last


def _type_once(agent: Agent, message: Message, profile: Profile, gateway: Gateway, screen: str) -> None:
    """Type the text unless an earlier attempt did. `screen` is the one just looked at."""
    if message.typed_at is not None:
        return
    pane = agent.tmux_pane_id
    if message.kind == MessageKind.BRIEFING:
        # A program just started may draw its input before it is ready for it (Gemini CLI
        # loading a resumed session redraws and drops what was typed): let it settle first.
        screen = _wait_until_still(gateway, agent, STILL_FOR)
    if profile.input_style:
        if input_text(screen, profile) is None:  # interrupted a moment ago, or still drawing
            screen = _wait(gateway, agent, lambda s: input_text(s, profile) is not None,
                           settings.TMUX_ORC.delivery_timeout)
        if screen is None:
            raise DeliveryFailed("the agent's input did not appear on screen")
        already = input_text(screen, profile)
        if already and message.attempts > 1:
            # The worker that died had typed it: typing again would double it.
            _record(message, typed_at=timezone.now())
            _note(message, "text found in the input from the interrupted attempt; not typed again")
            return
        if already:
            _clear(agent, profile, gateway, already)
            _note(message, f"cleared text left in the input: {already[:80]!r}")
    gateway.type_text(pane, message.body)
    _record(message, typed_at=timezone.now())


MAX_CLEAR_PRESSES = 40


def _clear(agent: Agent, profile: Profile, gateway: Gateway, text: str) -> None:
    """Empty the agent's input: the profile's clear keys empty a line (and join it to the
    one above), so a text of several lines takes several presses. A profile that clears
    with Backspace alone presses it once per character (and once more), all at once."""
    by_character = profile.clear_input_keys == ("BSpace",)
    for _ in range(min(text.count("\n") + 2, MAX_CLEAR_PRESSES)):
        gateway.send_keys(agent.tmux_pane_id, *profile.clear_input_keys, repeat=len(text) + 1 if by_character else 1)
        left = _wait(gateway, agent, lambda s: input_text(s, profile) != text, 1)
        text = input_text(left, profile) if left is not None else text
        if text == "":
            return
    raise DeliveryFailed("the agent's input could not be cleared")


def _submit(agent: Agent, message: Message, profile: Profile, gateway: Gateway) -> None:
    """Press Enter until the input no longer holds the text (a bounded number of times)."""
    pane = agent.tmux_pane_id
    if profile.input_style and message.submitted_at is None:
        before = _wait(gateway, agent, lambda s: _shows_typed(s, message.body, profile), 5)
        if before is None:
            raise DeliveryFailed("the typed text did not show in the agent's input")
    else:
        before = _screen(gateway, agent)
    if message.submitted_at is not None and _taken(before, before, profile):
        return _delivered(message, "was already submitted by the interrupted attempt", agent=agent)
    if profile.submit_delay:  # a program that takes a quick Enter as part of the paste
        time.sleep(profile.submit_delay)
    while message.submit_presses < MAX_SUBMIT_PRESSES:
        # Written before the key goes: a worker killed in between leaves a row that says
        # "maybe submitted", and the one taking over looks at the screen, not for the text.
        _record(message, submit_presses=message.submit_presses + 1,
                submitted_at=message.submitted_at or timezone.now())
        gateway.send_keys(pane, *profile.submit_keys)
        if _wait(gateway, agent, lambda s: _taken(s, before, profile), RESUBMIT_AFTER) is not None:
            return _delivered(message, agent=agent)
        _note(message, f"text still in the input {RESUBMIT_AFTER:.0f} s after Enter; pressing it again")
    raise DeliveryFailed(f"the text stayed in the agent's input after {MAX_SUBMIT_PRESSES} presses of Enter")


def _shows_typed(screen: str, body: str, profile: Profile) -> bool:
    """The typed text is in the input: for a prompt line, a text of several lines ends
    on the screen's last line, below the prompt it started on."""
    if input_text(screen, profile):
        return True
    last_typed = body.rstrip().rsplit("\n", 1)[-1].rstrip()
    lines = screen.rstrip().splitlines()
    return profile.input_style == "line" and "\n" in body.strip() and bool(lines) and lines[-1].rstrip() == last_typed


def _taken(screen: str, before: str, profile: Profile) -> bool:
    if profile.input_style == "line":
        now = input_text(screen, profile)
        # An empty prompt again, or (the program still running) a screen that moved on.
        return now == "" or (now is None and screen != before)
    if profile.input_style:
        return not input_text(screen, profile)
    return screen != before  # the program's input cannot be read: the screen must react


def _delivered(message: Message, note: str = "", *, agent: Agent) -> None:
    """The agent took the text: it is working on it now, whatever its screen shows yet."""
    if note:
        _note(message, note)
    _record(message, status=MessageStatus.DELIVERED, delivered_at=timezone.now(), error="")
    agent.refresh_from_db(fields=["state"])
    if agent.state in TAKES_MESSAGES:
        agent.set_state(AgentState.WORKING, f"took {message.kind} #{message.pk}", only_from=agent.state,
                        signal=Signal.DELIVERY)


# States in which a submitted message means work has started (not a prompt being answered).
TAKES_MESSAGES = (AgentState.IDLE, AgentState.STARTING, AgentState.STUCK, AgentState.WORKING)
