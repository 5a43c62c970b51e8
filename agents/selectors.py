"""Reads about agents, shared by every interface."""

from __future__ import annotations

import time
from datetime import timedelta

from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agents.hooks import hook_outranks_screen
from agents.hosts import live_hosts
from agents.models import LIVE_STATES, Agent, AgentOperation, AgentState, Message, MessageStatus, OperationStatus
from agents.roles import wait_timeout
from agents.validation import parse_target
from orchestrator.db import connection_release
from orchestrator.errors import InvalidInput, NotFound
from orchestrator.waits import wait_slot

RESPONSIVE_STATES = {AgentState.IDLE, AgentState.WORKING, AgentState.WAITING_APPROVAL}
HEALTH_BY_STATE = {
    AgentState.IDLE: 100, AgentState.WORKING: 100, AgentState.WAITING_APPROVAL: 80,
    AgentState.STARTING: 60, AgentState.STUCK: 30, AgentState.CRASHED: 0, AgentState.FAILED: 0,
    AgentState.STOPPED: 0,
}
CRASH_PENALTY = 10  # health points lost for each crash in the last 24 hours
EXPLAIN_EVENTS = 5  # the changes of state `agent_explain` lists


def health_score(agent: Agent) -> int:
    """0-100: what the state is worth, less 10 for each crash in the last 24 hours."""
    return health_of(agent.state, agent.events.filter(crashed_lately()).count())


def crashed_lately(prefix: str = "") -> Q:
    """The agent events that count against its health: crashes in the last 24 hours
    (`prefix` "events__" to filter agents by them)."""
    return Q(**{f"{prefix}to_state": AgentState.CRASHED,
                f"{prefix}created_at__gte": timezone.now() - timedelta(hours=24)})


def health_of(state: str, crashes: int) -> int:
    return max(0, HEALTH_BY_STATE.get(state, 0) - CRASH_PENALTY * crashes)


def agent_get(*, target: str) -> Agent:
    """The agent at `session:window`: the live one, or else the last one stopped there."""
    session_name, name = parse_target(target)
    agent = (
        Agent.objects.filter(session_name=session_name, name=name)
        .annotate(stopped=Case(When(state=AgentState.STOPPED, then=Value(1)), default=Value(0),
                               output_field=IntegerField()))
        .order_by("stopped", "-created_at")
        .select_related("team")
        .first()
    )
    if agent is None:
        raise NotFound(f"no agent at {target}")
    return agent


def agent_list(*, include_stopped: bool = False, session_name: str | None = None) -> QuerySet[Agent]:
    agents = Agent.objects.select_related("team")
    if not include_stopped:
        agents = agents.filter(state__in=LIVE_STATES)
    if session_name:
        agents = agents.filter(session_name=session_name)
    return agents


def hosts_with_live_agents() -> list[str]:
    return list(Agent.objects.filter(state__in=LIVE_STATES).values_list("host", flat=True).distinct().order_by())


def agent_status(*, agent: Agent, include_activity: bool = False, explain: bool = False) -> dict:
    """What a person asks about an agent: state, since when, how healthy (and, with
    `explain`, how the orchestrator came to that state: `agent_explain`)."""
    now = timezone.now()
    live = agent.state != AgentState.STOPPED and agent.started_at
    status = {
        "target": agent.target,
        "state": agent.state,
        "state_reason": agent.state_reason,
        "state_changed_at": agent.state_changed_at,
        "responsive": agent.state in RESPONSIVE_STATES,
        "last_activity": agent.last_activity_at,
        "uptime_minutes": int((now - agent.started_at).total_seconds() // 60) if live else 0,
        "idle_minutes": int((now - agent.state_changed_at).total_seconds() // 60) if agent.state == "idle" else 0,
        "restart_count": agent.restart_count,
        "health_score": health_score(agent),
        "host": agent.host,
        "host_down": agent.state != AgentState.STOPPED and agent.host not in live_hosts(),
    }
    if include_activity:
        events = agent.events.order_by("-created_at", "-id")[:10]
        status["activity_summary"] = [
            f"{e.created_at:%Y-%m-%d %H:%M:%S} {e.from_state} -> {e.to_state}: {e.reason}" for e in reversed(events)
        ]
    if explain:
        status["explain"] = agent_explain(agent=agent)
    return status


def agent_explain(*, agent: Agent) -> dict:
    """Why the agent is in its state: the signal that set it (hook, screen, process,
    delivery, service), the last reading of its screen (markers matched, lines read, when;
    None if it was never read), the program's last hook and whether it still outranks the
    screen, and the last few changes of state, newest last."""
    changes = agent.events.exclude(from_state=F("to_state"))  # a SessionStart hook changes nothing
    setter = changes.filter(to_state=agent.state).order_by("-created_at", "-id").first()
    recent = changes.order_by("-created_at", "-id")[:EXPLAIN_EVENTS]
    return {
        "target": agent.target,
        "state": agent.state,
        "state_changed_at": agent.state_changed_at,
        "state_reason": agent.state_reason,
        "signal": setter.signal if setter else "",
        "screen": _screen_reading(agent),
        "hook": _last_hook(agent),
        "recent_events": [{"to_state": e.to_state, "signal": e.signal, "reason": e.reason,
                           "created_at": e.created_at} for e in reversed(recent)],
    }


def _screen_reading(agent: Agent) -> dict | None:
    """The last look kept in `agent.observation`, or None: its screen was never read."""
    observation = agent.observation or {}
    read_at = agent.observed_at or parse_datetime(observation.get("at") or "")
    if not observation or read_at is None:
        return None
    return {"signal": observation.get("signal", ""), "state": observation.get("state") or "",
            "matched": list(observation.get("matched") or []), "lines": list(observation.get("lines") or []),
            "read_at": read_at}


def _last_hook(agent: Agent) -> dict | None:
    if not agent.hook_event or agent.hook_at is None:
        return None
    return {"event": agent.hook_event, "state": agent.hook_state, "at": agent.hook_at,
            "outranks_screen": hook_outranks_screen(agent)}


def _until_final(row, timeout: float, interval: float = 0.05):
    """Re-read `row` until it is final (a worker finished with it) or `timeout` s passed;
    no database connection is held while it sleeps."""
    deadline = time.monotonic() + timeout
    row.refresh_from_db()
    if row.is_final or timeout <= 0:
        return row
    with wait_slot():
        while not row.is_final and time.monotonic() < deadline:
            connection_release()
            time.sleep(interval)
            row.refresh_from_db()
    return row


def operation_wait(*, operation: AgentOperation, timeout: float) -> AgentOperation:
    """The operation once it is final, or as it stands when `timeout` seconds have passed."""
    _until_final(operation, timeout)
    operation.agent.refresh_from_db()
    return operation


def operations_wait(operations: list[AgentOperation], *, timeout: float | None = None, progress=None) -> list:
    """Wait for each operation in turn, all within one deadline (by default the longest wait
    of their agents' types); `progress(agent, operation)` is told as each settles."""
    longest = max((wait_timeout(op.agent.agent_type) for op in operations), default=0)
    deadline = time.monotonic() + (longest if timeout is None else timeout)
    for op in operations:
        operation_wait(operation=op, timeout=max(0.0, deadline - time.monotonic()))
        if progress:
            progress(op.agent, op)
    return operations


def operation_outcome(operation: AgentOperation, *, timeout: float) -> Agent:
    """The operation's agent, ready for OperationResultSerializer (`last_operation`,
    `detail`), once the operation is final or `timeout` seconds have passed."""
    operation = operation_wait(operation=operation, timeout=timeout)
    agent = operation.agent
    agent.last_operation, agent.detail = operation, operation_detail(operation)
    return agent


def operation_detail(operation: AgentOperation) -> str:
    """In words, how far the operation got."""
    agent = operation.agent
    what = f"{operation.kind} of {agent.target}"
    if operation.status == OperationStatus.SUCCEEDED:
        return f"{what} done"
    if operation.status == OperationStatus.PENDING:
        return f"{what} not finished: queued, no worker for host {agent.host} has taken it yet"
    if operation.status == OperationStatus.RUNNING:
        return f"{what} not finished: still running on host {agent.host}"
    return f"{what} {operation.status}: {operation.error}"


def message_get(*, message_id: int) -> Message:
    message = Message.objects.select_related("agent").filter(pk=message_id).first()
    if message is None:
        raise NotFound(f"no message {message_id}")
    return message


def message_wait(*, message: Message, timeout: float) -> Message:
    """The message once final (delivered, failed, expired), or as it is after `timeout` s."""
    return _until_final(message, timeout, interval=0.1)


def message_history(*, agent: Agent, limit: int = 50) -> list[Message]:
    """The agent's last `limit` messages, oldest first, with what it answered."""
    latest = agent.messages.select_related("agent").order_by("-created_at", "-id")[:limit]
    return list(reversed(latest))


def orchestrator_agent() -> Agent:
    """The one live orchestrator agent: where check-ins go when nobody else is named."""
    found = list(Agent.objects.filter(agent_type="orchestrator").exclude(state=AgentState.STOPPED)[:2])
    if len(found) != 1:
        raise InvalidInput("target: required" + (" (several orchestrator agents are running)" if found
                                                  else " (no orchestrator agent is running)"))
    return found[0]


def messages_scheduled() -> QuerySet[Message]:
    """Messages waiting for their time, soonest first."""
    return Message.objects.filter(status=MessageStatus.SCHEDULED).select_related("agent").order_by("not_before", "id")
