"""The agent program's own word about itself: hooks that report to the API.

Claude Code runs a command on each lifecycle event; an agent started with a profile that
has `hooks_option` gets a settings file whose hooks run agents/hook_report.py, which posts
the event to `POST /agents/hook` with the agent's own token. What each event means:

- UserPromptSubmit: the program took a prompt (and says which: a delivery receipt, compared
  with the message byte for byte) and works on it;
- Stop: its turn ended, it is idle; a message waiting for it goes in;
- PermissionRequest, Notification `permission_prompt`: it waits for an approval;
- SessionStart: it (re)started its session.

A hook outranks the screen for a few seconds (the screen lags): `hook_outranks_screen`,
which monitoring/looks.py weighs each look with.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.enqueue import enqueue_delivery
from agents.models import Agent, AgentEvent, AgentState, Message, MessageStatus, Signal
from orchestrator.changes import rows_changed
from orchestrator.errors import InvalidInput

REPORTER = Path(__file__).resolve().parent / "hook_report.py"
REPORTER_ARGV = [sys.executable, "-I", "-S", str(REPORTER)]
EVENTS = ("SessionStart", "UserPromptSubmit", "Stop", "PermissionRequest", "Notification")
CODEX_EVENTS = ("agent-turn-complete",)
STATES = {"UserPromptSubmit": AgentState.WORKING, "Stop": AgentState.IDLE, "agent-turn-complete": AgentState.IDLE,
          "PermissionRequest": AgentState.WAITING_APPROVAL}
NOTIFICATION_STATES = {"permission_prompt": AgentState.WAITING_APPROVAL, "idle_prompt": AgentState.IDLE}
MEANING = {AgentState.WORKING: "it took a prompt", AgentState.IDLE: "its turn ended",
           AgentState.WAITING_APPROVAL: "it asks for permission"}
RECEIPT_WINDOW = timedelta(minutes=10)  # how long after it was submitted a message can be acknowledged
# Hooks do not move an agent out of these: the sweep and operations own them.
NOT_FROM = (AgentState.STOPPED, AgentState.CRASHED, AgentState.FAILED)
HOOK_TRUSTED_FOR = 3.0  # seconds a hook outranks a screen that says otherwise: screens lag


def hooks_path(agent: Agent) -> Path:
    return Path(settings.DATA_DIR) / "hooks" / f"agent-{agent.pk}.json"


def hooks_arguments(agent: Agent, kind: str) -> list[str]:
    """What to add to the program's command line so that it reports to the API: Claude Code
    takes a settings file with hooks, Codex a notify command (it passes the event's JSON as
    the command's last argument). No secret in either: the reporter takes the token from the
    pane's environment."""
    if kind == "claude":
        return ["--settings", hooks_settings_write(agent)]
    if kind == "codex":
        return ["-c", f"notify={json.dumps(REPORTER_ARGV)}"]
    return []


def hooks_settings_write(agent: Agent) -> str:
    """Claude Code's settings file with the orchestrator's hooks."""
    command = " ".join(REPORTER_ARGV)
    hook = [{"hooks": [{"type": "command", "command": command, "timeout": 5}]}]
    path = hooks_path(agent)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"hooks": {event: hook for event in EVENTS}}, handle, indent=2)
    return str(path)


def agent_hook_report(*, agent: Agent, payload: dict) -> dict:
    """Record what the agent's program said of itself: its state at once (an event row when
    it changes, saying whether the screen disagreed), and for a prompt, the receipt on the
    message it acknowledges. Returns what was recorded."""
    event = _event_name(payload)
    now = timezone.now()
    state = None if _side_request_of_codex(agent, event, payload, now) else _state_of(event, payload)
    recorded = {"event": event, "state": state or "", "message": None}
    with transaction.atomic():
        Agent.objects.filter(pk=agent.pk).update(hook_event=event, hook_state=state or "", hook_at=now)
        if event == "UserPromptSubmit":
            recorded["message"] = _receipt(agent, payload["prompt"], now)
        agent.refresh_from_db()
        if agent.state in NOT_FROM:
            return recorded
        if event == "SessionStart":
            rows_changed()
            AgentEvent.objects.create(agent=agent, from_state=agent.state, to_state=agent.state, signal=Signal.HOOK,
                                      reason=f"hook SessionStart ({payload.get('source') or 'startup'}): "
                                             "the program started its session", created_at=now)
        elif state and state != agent.state:
            agent.set_state(state, _reason(agent, event, state), only_from=agent.state, signal=Signal.HOOK)
    if state == AgentState.IDLE and agent.messages.filter(status=MessageStatus.QUEUED).exists():
        enqueue_delivery(agent)
    return recorded


def hook_outranks_screen(agent: Agent, now: datetime | None = None) -> bool:
    """Whether the program's last hook still comes before what its screen says: it named a
    state less than HOOK_TRUSTED_FOR seconds ago and the agent is still in that state (a
    delivery since, say, is newer word)."""
    if not agent.hook_at or not agent.hook_state or agent.state != agent.hook_state:
        return False
    return ((now or timezone.now()) - agent.hook_at).total_seconds() < HOOK_TRUSTED_FOR


def _event_name(payload: dict) -> str:
    if not isinstance(payload, dict):
        raise InvalidInput("the body must be the hook's JSON object")
    event = payload.get("hook_event_name") or payload.get("type")  # Claude Code's hooks; Codex's notify
    if event not in EVENTS + CODEX_EVENTS:
        raise InvalidInput(f"hook_event_name: {event!r} is not one of {', '.join(EVENTS)} (nor Codex's "
                           f"agent-turn-complete)")
    if event == "UserPromptSubmit" and not isinstance(payload.get("prompt"), str):
        raise InvalidInput("prompt: UserPromptSubmit must carry the submitted prompt as a string")
    return event


def _state_of(event: str, payload: dict) -> str | None:
    if event == "Notification":
        kind = payload.get("notification_type") or ("permission_prompt" if "permission" in
                                                    str(payload.get("message", "")).lower() else "")
        return NOTIFICATION_STATES.get(kind)
    return STATES.get(event)


def _side_request_of_codex(agent: Agent, event: str, payload: dict, now) -> bool:
    """Codex runs its notify command also when a side request it makes of the model ends (a
    title for the thread, on its first message), while the turn itself goes on. The turn's
    own notify lists the message submitted to it in `input-messages`; a side request's does
    not, and says nothing of the agent's state."""
    inputs = payload.get("input-messages")
    if event != "agent-turn-complete" or not isinstance(inputs, list):
        return False
    last = (Message.objects.filter(agent=agent, submitted_at__gte=now - RECEIPT_WINDOW)
            .order_by("-submitted_at", "-id").first())
    return last is not None and last.body.strip() not in {str(item).strip() for item in inputs}


def _reason(agent: Agent, event: str, state: str) -> str:
    reason = f"hook {event}: {MEANING[state]}"
    screen = agent.observation.get("state") if agent.observation else None
    if screen and screen != state:
        reason += f"; the screen last showed {screen}: the program's own word wins, the screen lags"
    return reason


def _receipt(agent: Agent, prompt: str, now) -> int | None:
    """Mark the message the program acknowledges: the newest one submitted and not yet
    acknowledged, preferring one whose text is exactly the prompt. None if there is none
    (a prompt a person typed into the pane)."""
    candidates = list(Message.objects.filter(agent=agent, received_at=None, submitted_at__gte=now - RECEIPT_WINDOW)
                      .order_by("-submitted_at", "-id")[:20])
    if not candidates:
        return None
    exact = next((m for m in candidates if m.body == prompt), None)
    message = exact or candidates[0]
    Message.objects.filter(pk=message.pk).update(received_at=now, received_exactly=exact is not None,
                                                 received_text="" if exact else prompt[:100_000])
    return message.pk

