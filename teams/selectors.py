"""Reads for teams and standups."""

from __future__ import annotations

from collections import Counter

from django.db.models import Count, Prefetch, QuerySet

from agents.models import Agent, AgentState
from orchestrator.errors import NotFound
from tasks.models import Task
from teams.models import Standup, StandupReply, Team


def team_get(*, name: str) -> Team:
    """The active team called `name`."""
    team = Team.objects.filter(name=name, torn_down_at=None).first()
    if team is None:
        raise NotFound(f"no team {name!r}; `tmux-orc team list` shows the teams")
    return team


def team_list(*, include_torn_down: bool = False) -> QuerySet[Team]:
    teams = Team.objects.all() if include_torn_down else Team.objects.filter(torn_down_at=None)
    live = Agent.objects.exclude(state=AgentState.STOPPED).order_by("created_at", "id")
    return teams.prefetch_related(Prefetch("agents", queryset=live, to_attr="members"))


def team_status(*, team: Team) -> dict:
    """The team, its live members with their state, and its tasks counted by status."""
    members = list(team.agents.exclude(state=AgentState.STOPPED).order_by("created_at", "id"))
    tasks = dict(Task.objects.filter(team=team).values_list("status").annotate(n=Count("id")))
    states = dict(Counter(agent.state for agent in members))
    return {"team": team, "members": members, "agents_by_state": states, "tasks_by_status": tasks}


def standup_get(*, standup_id: int) -> Standup:
    replies = StandupReply.objects.select_related("agent").order_by("agent__session_name", "agent__name")
    standup = Standup.objects.prefetch_related(Prefetch("replies", queryset=replies)).filter(pk=standup_id).first()
    if standup is None:
        raise NotFound(f"no standup #{standup_id}")
    return standup


def teams_brief() -> str:
    """The active teams and their members, for an orchestrator agent's briefing."""
    teams = list(team_list())
    if not teams:
        return "There are no teams yet."
    lines = ["The teams now:"]
    for team in teams:
        members = ", ".join(f"{a.target} ({a.agent_type})" for a in team.members) or "no live members"
        lines.append(f"- {team.name} on {team.project_path}: {members}")
    lines.append("`tmux-orc team list` and GET /teams/list show them as they change.")
    return "\n".join(lines)
