"""Who is asking, and what they may do: one set of rules for the REST API and MCP.

A token belongs to a person, who may do everything, or to one agent. An agent's own token
may read, message its own team, move its own tasks along and report on its own work. Lead
roles (`TMUX_ORC_LEAD_ROLES`: orchestrator and pm by default) may do what a person does.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from orchestrator.errors import Forbidden

# The moves an agent makes on its own task; pending, assigned and cancelled are its lead's.
AGENT_TASK_MOVES = {"in_progress", "review", "done", "blocked"}


@dataclass(frozen=True)
class Caller:
    name: str  # what rows record as who did it: "token:ci-bot", "cli", "admin:root"
    token: object | None = None  # the ApiToken, when the call came with one

    @classmethod
    def of_request(cls, request) -> Caller:
        token = getattr(request, "auth", None)
        return cls(str(request.user), token if hasattr(token, "agent_id") else None)

    @property
    def agent(self):
        """The agent whose own token this is; None for a person."""
        return self.token.agent if self.token is not None and self.token.agent_id else None

    @property
    def limited(self) -> bool:
        agent = self.agent
        return agent is not None and agent.agent_type not in settings.TMUX_ORC.lead_roles

    def _refuse(self, what: str) -> None:
        agent = self.agent
        raise Forbidden(f"{agent.target} ({agent.agent_type}) cannot {what}; "
                        f"only {', '.join(settings.TMUX_ORC.lead_roles)} agents and people can")

    def require_lead(self, what: str) -> None:
        if self.limited:
            self._refuse(what)

    def require_team_of(self, agent, what: str = "message it") -> None:
        """An agent reaches itself and its own team's members."""
        me = self.agent
        if self.limited and agent.pk != me.pk and (me.team_id is None or agent.team_id != me.team_id):
            raise Forbidden(f"{agent.target} is not in the team of {me.target}; an agent can {what} only "
                            "within its own team")

    def require_sessions_of_team(self, sessions: list[str]) -> None:
        me = self.agent
        if not self.limited:
            return
        own = me.team.name if me.team_id else None
        foreign = [s for s in sessions if s != own]
        if foreign:
            raise Forbidden(f"{me.target} can broadcast only to its own team"
                            + (f" ({own})" if own else " and has none") + f", not to {', '.join(foreign)}")

    def require_own_task(self, task, status: str | None = None) -> None:
        me = self.agent
        if not self.limited:
            return
        if task.assigned_to_id != me.pk:
            raise Forbidden(f"task #{task.pk} is not assigned to {me.target}; an agent changes only its own tasks")
        if status is not None and status not in AGENT_TASK_MOVES:
            raise Forbidden(f"{me.target} can move its task to {', '.join(sorted(AGENT_TASK_MOVES))}; "
                            f"{status} is for its lead")

    def require_self(self, agent, what: str) -> None:
        me = self.agent
        if me is not None and agent.pk != me.pk:
            raise Forbidden(f"{me.target} can {what} only for itself")
