"""Coordination of many agents at once: deploy and tear down teams, broadcast to them,
hold standups, recover the agents that are down."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.hosts import hosts_choose
from agents.models import Agent, AgentOperation, AgentReport, AgentState, Message, OperationStatus
from agents.profiles import get_profile
from agents.roles import get_agent_type
from agents.selectors import operation_detail, operations_wait
from agents.services import (
    agent_kill,
    agent_restart,
    agent_spawn,
    message_broadcast,
    message_send,
    spawns_in_progress,
)
from agents.validation import MAX_BRIEFING, check_briefing, check_name, check_project_path
from agents.worktrees import check_repository
from orchestrator.db import connection_release
from orchestrator.errors import Busy, Conflict, InvalidInput, NotFound, OrchestratorError
from orchestrator.waits import wait_slot
from teams.models import CoordinationStrategy, Isolation, Standup, StandupReply, Team
from teams.templates import MAX_TEAM_SIZE, MemberSpec

DOWN_STATES = [AgentState.CRASHED, AgentState.FAILED]
Progress = Callable[[Agent, AgentOperation], None]  # told as each member's operation settles


def _live_in(session_names: list[str] | None):
    """Live agents of `session_names` (every session when empty); unknown sessions are an error."""
    live = Agent.objects.exclude(state=AgentState.STOPPED)
    if not session_names:
        return live
    for name in session_names:
        check_name("session_names", name)
    known = set(live.filter(session_name__in=session_names).values_list("session_name", flat=True))
    missing = [name for name in session_names if name not in known]
    if missing:
        raise NotFound(f"no live agents in session(s): {', '.join(missing)}")
    return live.filter(session_name__in=session_names)


def agents_recover(
    *, session_names: list[str] | None = None, include_stuck: bool = False, requested_by: str = ""
) -> list[AgentOperation]:
    """Restart, briefed again, every agent that is down (crashed, or failed after automatic
    recovery gave up; stuck ones too with `include_stuck`) in `session_names`, or everywhere.
    Each gets a fresh automatic-recovery budget, as with `agent restart`."""
    states = DOWN_STATES + ([AgentState.STUCK] if include_stuck else [])
    return [agent_restart(agent=agent, requested_by=requested_by)
            for agent in _live_in(session_names).filter(state__in=states)]


# --- deploy and teardown --------------------------------------------------------------------


class DeployFailed(OrchestratorError):
    """A member did not start; the rest of the team was removed again (the message says what is left)."""

    status_code = 422


@dataclass
class Deployment:
    team: Team
    operations: list[AgentOperation] = field(default_factory=list)


def _window_names(members: list[MemberSpec]) -> list[str]:
    """`<Profile>-<role>`, numbered from the second of a kind: Claude-developer-2."""
    names, seen = [], {}
    for member in members:
        base = f"{get_profile(member.profile or settings.TMUX_ORC.default_profile).display_name}-{member.role}"[:60]
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def _check_members(members: list[MemberSpec]) -> None:
    if not 1 <= len(members) <= MAX_TEAM_SIZE:
        raise InvalidInput(f"team_members: a team has 1 to {MAX_TEAM_SIZE} members")
    for i, member in enumerate(members):
        if get_agent_type(member.role) is None:
            raise InvalidInput(f"team_members[{i}].role: unknown agent type {member.role!r}")
        profile = member.profile or settings.TMUX_ORC.default_profile
        if get_profile(profile) is None:
            raise InvalidInput(f"team_members[{i}].profile: unknown profile {profile!r}")
        check_briefing(member.briefing)


def _reach(target: str) -> str:
    # With the agent's own token, so the API's rules bind what it does.
    return (f"  curl -X POST $TMUX_ORC_URL/messages/send -H \"Authorization: Bearer $TMUX_ORC_TOKEN\" "
            f"-H 'Content-Type: application/json' -d '{{\"target\": \"{target}\", \"message\": \"...\"}}'")


def _team_briefing(team: Team, members: list[MemberSpec], targets: list[str], me: int) -> str:
    """A member's briefing: its own, then the team, who it answers to and how to reach them."""
    member = members[me]
    own = member.briefing or get_agent_type(member.role).default_briefing
    roster = []
    for spec, target in zip(members, targets):
        skills = f": {', '.join(spec.skills)}" if spec.skills else ""
        roster.append(f"- {target} ({spec.role}{skills}){'  <- you' if target == targets[me] else ''}")
    pm = next((t for spec, t in zip(members, targets) if spec.role == "pm"), None)
    hub = team.coordination_strategy == CoordinationStrategy.HUB_AND_SPOKE and pm is not None
    if hub and member.role == "pm":
        duty = ("You lead this team. Split the work into tasks and give each engineer theirs; they report to you. "
                "Review what comes back and keep the team unblocked.")
    elif hub:
        duty = (f"Report to your PM, {pm}: when you start, when you finish, and at once when you are blocked. "
                "Go through the PM rather than to other engineers.")
    else:
        duty = "Work with the others directly: ask whoever knows, tell whoever is affected."
    lines = [
        own, "",
        f"You are {targets[me]} in team {team.name}, working on {team.project_path}.",
        f"The team ({team.get_coordination_strategy_display()}):", *roster, "", duty, "",
        "To message a teammate (use its session:window target):", _reach(pm if hub and member.role != "pm" else "TARGET"),
        "",
        "To say what you are doing (the team's standups read it):",
        "  curl -X POST $TMUX_ORC_URL/agents/report -H \"Authorization: Bearer $TMUX_ORC_TOKEN\" "
        "-H 'Content-Type: application/json' -d '{\"text\": \"...\"}'",
    ]
    text = "\n".join(lines)
    if len(text) > MAX_BRIEFING:
        raise InvalidInput(f"team_members[{me}].briefing: with the roster it exceeds {MAX_BRIEFING} characters")
    return text


def _check_room(hosts: list[str]) -> None:
    limit = settings.TMUX_ORC.max_concurrent_spawns
    for host, size in sorted(Counter(hosts).items()):
        busy = spawns_in_progress(host)
        if busy + size > limit:
            raise Busy(f"the team needs {size} spawns at once on host {host} and {busy} are already in progress "
                       f"(limit {limit}, TMUX_ORC_MAX_CONCURRENT_SPAWNS); try again shortly or raise the limit")


def team_deploy(
    *, name: str, project_path: str, members: list[MemberSpec],
    coordination_strategy: str = CoordinationStrategy.HUB_AND_SPOKE, isolation: str = Isolation.NONE,
    template: str = "", requested_by: str = "", wait: float | None = None, progress: Progress | None = None,
) -> Deployment:
    """Start a team in tmux session `name`: every member briefed with the roster and how to
    reach the others. All or nothing: when a member cannot start, the members already
    started are killed again and `DeployFailed` says what happened."""
    check_name("project_name", name)
    if coordination_strategy not in CoordinationStrategy.values:
        raise InvalidInput(f"coordination_strategy: one of {', '.join(CoordinationStrategy.values)}")
    if isolation not in Isolation.values:
        raise InvalidInput(f"isolation: one of {', '.join(Isolation.values)}")
    _check_members(members)
    hosts = hosts_choose([member.host for member in members])
    here = set(hosts) == {settings.TMUX_ORC.agent_host}  # else each member's worker checks the path
    path = check_project_path(project_path, exists=here)
    if isolation == Isolation.WORKTREE and here:
        path = check_repository(path)
    if Team.objects.filter(name=name, torn_down_at=None).exists():
        raise Conflict(f"team {name} is already deployed; tear it down first or pick another project name")
    if Agent.objects.filter(session_name=name).exclude(state=AgentState.STOPPED).exists():
        raise Conflict(f"tmux session {name} already has live agents; pick another project name")
    targets = [f"{name}:{window}" for window in _window_names(members)]
    with transaction.atomic():
        _check_room(hosts)
        try:
            with transaction.atomic():
                team = Team.objects.create(name=name, project_path=path, coordination_strategy=coordination_strategy,
                                           isolation=isolation, template=template, created_by=requested_by)
        except IntegrityError:
            raise Conflict(f"team {name} is already deployed; tear it down first or pick another project name") from None
        deployment = Deployment(team)
        for i, member in enumerate(members):
            deployment.operations.append(agent_spawn(
                session_name=name, agent_type=member.role, project_path=path, profile=member.profile,
                name=targets[i].partition(":")[2], briefing=_team_briefing(team, members, targets, i),
                requested_by=requested_by, worktree=isolation == Isolation.WORKTREE and member.role != "pm",
                host=hosts[i], team=team, skills=list(member.skills),
            ))
    operations_wait(deployment.operations, timeout=wait, progress=progress)
    failed = [op for op in deployment.operations if op.status != OperationStatus.SUCCEEDED]
    if failed:
        _undo(deployment, failed, requested_by)
    _tell_orchestrators(team, f"New team {team.name} deployed on {team.project_path}:\n"
                        + "\n".join(f"- {op.agent.target} ({op.agent.agent_type})" for op in deployment.operations))
    return deployment


def _undo(deployment: Deployment, failed: list[AgentOperation], requested_by: str) -> None:
    """Take back a deploy that did not fully start, and raise saying what is left."""
    team, now = deployment.team, timezone.now()
    kills = []
    for op in deployment.operations:
        never_started = AgentOperation.objects.filter(pk=op.pk, status=OperationStatus.PENDING).update(
            status=OperationStatus.CANCELLED, finished_at=now, error=f"deploy of team {team.name} undone")
        op.agent.refresh_from_db()
        if never_started:
            op.agent.set_state(AgentState.STOPPED, "deploy undone before its window was made", stopped_at=now)
        elif op.agent.state != AgentState.STOPPED:
            kills.append(agent_kill(agent=op.agent, requested_by=requested_by))
    Team.objects.filter(pk=team.pk).update(torn_down_at=now)
    operations_wait(kills)
    reasons = "; ".join(operation_detail(op) for op in failed)
    left = [op.agent.target for op in kills if op.status != OperationStatus.SUCCEEDED]
    outcome = (f"windows still to remove (the worker has not yet): {', '.join(left)}" if left
               else "no member of it is left")
    raise DeployFailed(f"team {team.name} was not deployed: {reasons}. It was taken down again; {outcome}")


def _tell_orchestrators(team: Team, text: str) -> None:
    """The orchestrator agents see every team come and go."""
    for agent in Agent.objects.filter(agent_type="orchestrator").exclude(state=AgentState.STOPPED).exclude(team=team):
        message_send(agent=agent, body=text, sender="orchestrator")


def team_teardown(*, team: Team, requested_by: str = "", wait: float | None = None,
                  progress: Progress | None = None) -> list[AgentOperation]:
    """Kill every member (worktrees are removed, branches kept) and end the team."""
    if team.torn_down_at is not None:
        raise Conflict(f"team {team.name} was already torn down")
    with transaction.atomic():
        kills = [agent_kill(agent=agent, requested_by=requested_by)
                 for agent in team.agents.exclude(state=AgentState.STOPPED)]
        Team.objects.filter(pk=team.pk).update(torn_down_at=timezone.now())
    operations_wait(kills, timeout=wait, progress=progress)
    _tell_orchestrators(team, f"Team {team.name} was torn down.")
    return kills


def team_broadcast(*, team: Team, body: str, agent_types: list[str] | None = None, urgent: bool = False,
                   sender: str = "", sent_with=None) -> list[Message]:
    """Queue `body` for every live member of the team (of `agent_types`, if given)."""
    if team.torn_down_at is not None:
        raise Conflict(f"team {team.name} was torn down")
    return message_broadcast(sessions=[team.name], body=body, agent_types=agent_types, urgent=urgent, sender=sender,
                             sent_with=sent_with)


# --- standups --------------------------------------------------------------------------------

MAX_STANDUP_TIMEOUT = 3600
STANDUP_TIMEOUT = 30  # the default, wherever a standup is asked for


def standup_start(*, session_names: list[str] | None = None, include_idle_agents: bool = True,
                  timeout_seconds: int = 60, requested_by: str = "") -> Standup:
    """Ask each live agent of `session_names` (every session when empty) what it is doing;
    replies are collected for `timeout_seconds`."""
    if not 1 <= timeout_seconds <= MAX_STANDUP_TIMEOUT:
        raise InvalidInput(f"timeout_seconds: from 1 to {MAX_STANDUP_TIMEOUT}")
    agents = _live_in(session_names).exclude(state__in=DOWN_STATES)
    if not include_idle_agents:
        agents = agents.exclude(state=AgentState.IDLE)
    agents = list(agents.order_by("session_name", "name"))
    if not agents:
        raise NotFound("no agent to ask: every one is down" + ("" if include_idle_agents else " or idle"))
    text = settings.TMUX_ORC.standup_message
    with transaction.atomic():
        standup = Standup.objects.create(requested_by=requested_by, session_names=session_names or [],
                                         timeout_seconds=timeout_seconds)
        StandupReply.objects.bulk_create([
            StandupReply(standup=standup, agent=agent, request=message_send(agent=agent, body=text, sender="standup"))
            for agent in agents
        ])
    return standup


def standup_collect(*, standup: Standup) -> int:
    """Take in the replies that came: what an agent reported through the API since it was
    asked, or else what it wrote on its screen after the request. How many are missing."""
    waiting = list(standup.replies.filter(answered_at=None).select_related("request", "agent"))
    for reply in waiting:
        asked_at = reply.request.created_at if reply.request else standup.created_at
        report = AgentReport.objects.filter(agent=reply.agent, created_at__gte=asked_at).order_by("created_at").first()
        if report is not None:
            reply.text, reply.source, reply.answered_at = report.text, StandupReply.Source.REPORT, report.created_at
        elif reply.request is not None and reply.request.reply.strip():
            reply.text, reply.source = reply.request.reply.strip(), StandupReply.Source.SCREEN
            reply.answered_at = reply.request.replied_at
        else:
            continue
        reply.save(update_fields=["text", "source", "answered_at"])
    return standup.replies.filter(answered_at=None).count()


def standup_finish(*, standup: Standup) -> Standup:
    """Close the standup: the last replies are taken in; who has not answered stays unanswered."""
    if standup.finished_at is None:
        standup_collect(standup=standup)
        Standup.objects.filter(pk=standup.pk, finished_at=None).update(finished_at=timezone.now())
        standup.refresh_from_db()
    return standup


def standups_finish_due() -> int:
    """Close every standup whose time is up (beat runs this, so none stays open)."""
    finished = 0
    for standup in Standup.objects.filter(finished_at=None):
        if timezone.now() >= standup.created_at + timedelta(seconds=standup.timeout_seconds):
            standup_finish(standup=standup)
            finished += 1
    return finished


def standup_run(*, standup: Standup, poll: float = 0.5) -> Standup:
    """Collect replies until every agent answered or the timeout is over, then finish."""
    deadline = standup.created_at + timedelta(seconds=standup.timeout_seconds)
    with wait_slot():
        while standup_collect(standup=standup) and timezone.now() < deadline:
            connection_release()
            time.sleep(min(poll, max(0.0, (deadline - timezone.now()).total_seconds())))
    return standup_finish(standup=standup)
