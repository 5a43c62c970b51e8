"""Coordination of many agents at once: recover (and, with teams, deploy, broadcast, standup)."""

from __future__ import annotations

from agents.models import Agent, AgentOperation, AgentState
from agents.services import agent_restart
from orchestrator.errors import NotFound

DOWN_STATES = [AgentState.CRASHED, AgentState.FAILED]


def agents_recover(
    *, session_names: list[str] | None = None, include_stuck: bool = False, requested_by: str = ""
) -> list[AgentOperation]:
    """Restart, briefed again, every agent that is down (crashed, or failed after automatic
    recovery gave up; stuck ones too with `include_stuck`) in `session_names`, or everywhere.
    Each gets a fresh automatic-recovery budget, as with `agent restart`."""
    live = Agent.objects.exclude(state=AgentState.STOPPED)
    if session_names:
        known = set(live.filter(session_name__in=session_names).values_list("session_name", flat=True))
        missing = [name for name in session_names if name not in known]
        if missing:
            raise NotFound(f"no live agents in session(s): {', '.join(missing)}")
        live = live.filter(session_name__in=session_names)
    states = DOWN_STATES + ([AgentState.STUCK] if include_stuck else [])
    return [agent_restart(agent=agent, requested_by=requested_by) for agent in live.filter(state__in=states)]
