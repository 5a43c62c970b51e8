"""Who is asking, and what they may do: one set of rules for the REST API and MCP.

A token belongs to a person, who may do everything, or to one agent. An agent's own token
may read, message its own team, move its own tasks along and report on its own work. Lead
roles (`TMUX_ORC_LEAD_ROLES`: orchestrator and pm by default) may do what a person does:
global roles (`TMUX_ORC_GLOBAL_ROLES`: orchestrator) on every team, other leads on their own.
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
        """An agent that is no lead: it reads, talks to its team and works on its own tasks."""
        agent = self.agent
        return agent is not None and agent.agent_type not in settings.TMUX_ORC.lead_roles

    @property
    def everywhere(self) -> bool:
        """A person, or an agent of a role that acts on every team (`orchestrator`)."""
        agent = self.agent
        return agent is None or agent.agent_type in settings.TMUX_ORC.global_roles

    def _refuse(self, what: str) -> None:
        agent = self.agent
        raise Forbidden(f"{agent.target} ({agent.agent_type}) cannot {what}; "
                        f"only {', '.join(settings.TMUX_ORC.lead_roles)} agents and people can")

    def require_lead(self, what: str, *, of=None, sessions: list[str] | None = None) -> None:
        """A lead's or a person's to do. A lead that is not of a global role acts on the
        agent `of` or the `sessions` of its own team only, and on nothing that is not a
        team's (deploying a new team, all sessions at once)."""
        if self.limited:
            self._refuse(what)
        if self.everywhere:
            return
        if of is None and sessions is None:
            me = self.agent
            raise Forbidden(f"{me.target} ({me.agent_type}) can {what} only within its own team; "
                            f"{', '.join(settings.TMUX_ORC.global_roles)} agents and people act on every team")
        if of is not None:
            self.require_team_of(of, what)
        if sessions is not None:
            self.require_sessions_of_team(sessions, what)

    def require_team_of(self, agent, what: str = "message it") -> None:
        """An agent (a lead too, unless of a global role) reaches itself and its own team."""
        me = self.agent
        if self.everywhere or agent.pk == me.pk:
            return
        if me.team_id is None or agent.team_id != me.team_id:
            raise Forbidden(f"{agent.target} is not in the team of {me.target}; an agent can {what} only "
                            "within its own team")

    def require_sessions_of_team(self, sessions: list[str], what: str = "broadcast") -> None:
        me = self.agent
        if self.everywhere:
            return
        own = me.team.name if me.team_id else None
        foreign = [s for s in sessions if s != own]
        if foreign or not sessions:
            raise Forbidden(f"{me.target} can {what} only within its own team"
                            + (f" ({own})" if own else ", and has none")
                            + (f", not in {', '.join(foreign)}" if foreign else ", not in every session at once"))

    def require_own_task(self, task, status: str | None = None) -> None:
        """An agent changes its own tasks; a lead those of its team (unless of a global role)."""
        me = self.agent
        if self.everywhere:
            return
        if not self.limited:
            team = task.team_id or (task.assigned_to.team_id if task.assigned_to_id else None)
            if me.team_id is None or team != me.team_id:
                raise Forbidden(f"task #{task.pk} is not of the team of {me.target}; a lead changes only its "
                                "own team's tasks")
            return
        if task.assigned_to_id != me.pk:
            raise Forbidden(f"task #{task.pk} is not assigned to {me.target}; an agent changes only its own tasks")
        if status is not None and status not in AGENT_TASK_MOVES:
            raise Forbidden(f"{me.target} can move its task to {', '.join(sorted(AGENT_TASK_MOVES))}; "
                            f"{status} is for its lead")

    def may_read_check_output(self, task) -> bool:
        """Quality-gate output (it may show a secret a check printed): leads, the task's
        assignee and people only."""
        return not self.limited or task.assigned_to_id == self.agent.pk

    def require_self(self, agent, what: str) -> None:
        me = self.agent
        if me is not None and agent.pk != me.pk:
            raise Forbidden(f"{me.target} can {what} only for itself")
