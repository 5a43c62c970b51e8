"""Bringing crashed agents back without a human: restarts with exponential backoff, up to
a limit, after which the agent is `failed` and people are told."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from agents.models import Agent, AgentState
from agents.services import agent_restart
from monitoring.alerts import alert_raise
from monitoring.models import AlertKind

log = logging.getLogger(__name__)
BACKOFF_CAP = timedelta(minutes=5)
RECOVERY = "recovery"


def backoff(attempt: int) -> timedelta:
    """Wait before automatic restart number `attempt` (1-based): none, base, 2×base, 4×base…"""
    if attempt <= 1:
        return timedelta(0)
    return min(timedelta(seconds=settings.TMUX_ORC.restart_backoff * 2 ** (attempt - 2)), BACKOFF_CAP)


def recover_crashed(*, agents: list[Agent]) -> list[Agent]:
    """Restart the crashed agents whose turn has come; return those restarted.

    Each restart is claimed with a conditional update of the attempt count, so two sweeps
    running at once restart an agent once.
    """
    if not settings.TMUX_ORC.recovery_enabled:
        return []
    restarted = []
    for agent in agents:
        attempt = agent.recovery_attempts + 1
        if attempt > settings.TMUX_ORC.max_restarts:
            give_up(agent)
            continue
        due = agent.state_changed_at + backoff(attempt)
        if timezone.now() < due:
            if agent.next_recovery_at != due:
                Agent.objects.filter(pk=agent.pk).update(next_recovery_at=due)
            continue
        claimed = Agent.objects.filter(
            pk=agent.pk, state=AgentState.CRASHED, recovery_attempts=agent.recovery_attempts
        ).update(recovery_attempts=attempt, next_recovery_at=None)
        if claimed:
            agent.recovery_attempts = attempt
            log.info("restarting %s (attempt %s of %s): %s", agent.target, attempt,
                     settings.TMUX_ORC.max_restarts, agent.state_reason)
            agent_restart(agent=agent, requested_by=RECOVERY)
            restarted.append(agent)
    return restarted


def give_up(agent: Agent) -> None:
    limit = settings.TMUX_ORC.max_restarts
    reason = f"recovery gave up after {limit} restarts; last crash: {agent.state_reason}"
    if agent.set_state(AgentState.FAILED, reason, only_from=AgentState.CRASHED):
        log.warning("%s failed: %s", agent.target, reason)
        alert_raise(agent=agent, kind=AlertKind.RECOVERY_FAILED, text=f"{agent.target}: {reason}")
