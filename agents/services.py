"""Agent lifecycle: spawn, restart, kill.

Interfaces (API, admin, CLI) call the `agent_*` functions, which write rows and ask the
agent's host worker to act. The worker calls `operation_run`, the only code here that
touches tmux, through the gateway.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from agents.briefs import context_briefs
from agents.enqueue import enqueue_delivery, enqueue_operation
from agents.environment import base_environment, launch_command
from agents.gateway import CreatedWindow, Gateway, PaneInfo, TmuxError, WindowSpec, local_gateway
from agents.hooks import hooks_arguments, hooks_path
from agents.hosts import host_choose
from agents.models import (
    Agent,
    AgentOperation,
    AgentReport,
    AgentState,
    Message,
    MessageKind,
    MessageStatus,
    OperationKind,
    OperationStatus,
)
from agents.profiles import Profile, all_profiles, get_profile
from agents.roles import all_agent_types, get_agent_type
from agents.screens import classify_screen
from agents.validation import check_briefing, check_name, check_project_path
from agents.worktrees import check_repository, worktree_ensure, worktree_path, worktree_remove
from orchestrator.models import ApiToken
from orchestrator.services import agent_token_issue
from orchestrator.errors import Busy, Conflict, InvalidInput, NotFound

log = logging.getLogger(__name__)
STALE_RUNNING = timedelta(minutes=5)  # a claim this old belonged to a worker that died
LOST_AFTER = timedelta(seconds=30)  # an operation still pending this long after it was asked for


def _local_host() -> str:
    return settings.TMUX_ORC.agent_host


def public_url() -> str:
    """Where agents reach the API: `TMUX_ORC_URL`, or the address the server listens on."""
    config = settings.TMUX_ORC
    if config.public_url:
        return config.public_url.rstrip("/")
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    return f"http://{host}:{config.port}"


def _default_name(session_name: str, profile: Profile, agent_type: str) -> str:
    base = f"{profile.display_name}-{agent_type}"[:60]
    taken = set(
        Agent.objects.filter(session_name=session_name, name__startswith=base)
        .exclude(state=AgentState.STOPPED)
        .values_list("name", flat=True)
    )
    if base not in taken:
        return base
    return next(f"{base}-{n}" for n in range(2, len(taken) + 3) if f"{base}-{n}" not in taken)


def spawns_in_progress(host: str) -> int:
    """Spawns asked for on `host` and not finished (older ones no worker took do not count)."""
    recent = timezone.now() - timedelta(seconds=settings.TMUX_ORC.operation_expiry)
    return AgentOperation.objects.filter(
        kind=OperationKind.SPAWN, status__in=[OperationStatus.PENDING, OperationStatus.RUNNING],
        agent__host=host, created_at__gte=recent,
    ).count()


def _check_spawn_capacity(host: str) -> None:
    in_progress, limit = spawns_in_progress(host), settings.TMUX_ORC.max_concurrent_spawns
    if in_progress >= limit:
        raise Busy(f"{in_progress} spawns are already in progress on host {host} (limit {limit}); try again shortly")


def agent_spawn(
    *,
    session_name: str,
    agent_type: str,
    project_path: str,
    briefing: str = "",
    profile: str | None = None,
    name: str | None = None,
    requested_by: str = "",
    worktree: bool = False,
    host: str | None = None,
    **fields,
) -> AgentOperation:
    """Record a new agent and ask its host's worker to start it in a tmux window.

    Everything is checked before anything is written; the window is created by the
    worker after this transaction commits. With `worktree`, `project_path` is a git
    repository and the agent works in a worktree of its own, on a branch named after it.
    `host` names the machine whose worker starts it, or `auto` (the default comes from
    `TMUX_ORC_DEFAULT_HOST`): see agents.hosts. `fields` are saved on the agent (team, skills).
    """
    check_name("session_name", session_name)
    if get_agent_type(agent_type) is None:
        known = ", ".join(sorted(all_agent_types()))
        raise InvalidInput(f"agent_type: unknown type {agent_type!r}; known types: {known}")
    profile_name = profile or settings.TMUX_ORC.default_profile
    chosen = get_profile(profile_name)
    if chosen is None:
        raise InvalidInput(f"profile: unknown profile {profile_name!r}; known: {', '.join(sorted(all_profiles()))}")
    host = host_choose(host)
    here = host == _local_host()  # else its own worker checks the path, where the agent runs
    path = check_project_path(project_path, exists=here)
    if worktree and here:
        path = check_repository(path)
    check_briefing(briefing)
    if "team" not in fields:  # spawned into a team's session: one of the team
        teams = Agent._meta.get_field("team").related_model.objects  # teams sit above agents: not imported
        fields["team"] = teams.filter(name=session_name, torn_down_at=None).first()
    with transaction.atomic():
        _check_spawn_capacity(host)
        window = check_name("name", name) if name else _default_name(session_name, chosen, agent_type)
        try:
            if worktree:
                fields.update(worktree_of=path, git_branch=f"{session_name}/{window}")
                path = worktree_path(path, session_name, window)
            with transaction.atomic():
                agent = Agent.objects.create(
                    name=window, session_name=session_name, agent_type=agent_type, profile=chosen.name,
                    project_path=path, briefing=briefing or get_agent_type(agent_type).default_briefing, host=host,
                    state_reason="waiting for the worker to create the window", **fields,
                )
        except IntegrityError:
            raise Conflict(f"target {session_name}:{window} is already used by a live agent") from None
        return _request(agent, OperationKind.SPAWN, requested_by)


def agent_restart(*, agent: Agent, requested_by: str = "", resume: bool = True) -> AgentOperation:
    """Ask the worker to start the agent's program again in the same window. With `resume`
    and a profile that names how (`resume_args`), the program continues its last
    conversation and gets a short note instead of its whole briefing again. A restart
    already waiting or under way is returned instead of asking for a second one."""
    if agent.state == AgentState.STOPPED:
        raise Conflict(f"{agent.target} was killed; spawn a new agent instead of restarting it")
    with transaction.atomic():
        Agent.objects.select_for_update().filter(pk=agent.pk).first()  # one restart request at a time
        under_way = agent.operations.filter(kind=OperationKind.RESTART,
                                            status__in=[OperationStatus.PENDING, OperationStatus.RUNNING]).first()
        if under_way:
            return under_way
        if requested_by != "recovery":  # a person's restart gives recovery a fresh start
            Agent.objects.filter(pk=agent.pk).update(recovery_attempts=0, next_recovery_at=None)
        return _request(agent, OperationKind.RESTART, requested_by, argument=RESUME if resume else FRESH)


RESUME, FRESH = "resume", "fresh"  # a restart's argument
RESUMED_NOTE = ("You were restarted by the orchestrator and your last conversation was resumed: carry on with "
                "your task where you left off.")


def agent_kill(*, agent: Agent, requested_by: str = "") -> AgentOperation:
    """Ask the worker to remove the agent's window; the agent ends `stopped`."""
    if agent.state == AgentState.STOPPED:
        raise Conflict(f"{agent.target} is already stopped")
    with transaction.atomic():
        AgentOperation.objects.filter(agent=agent, status=OperationStatus.PENDING).update(
            status=OperationStatus.CANCELLED, finished_at=timezone.now(), error="cancelled by a kill"
        )
        return _request(agent, OperationKind.KILL, requested_by)


def agent_answer_prompt(*, agent: Agent, approve: bool, choice: int | None = None, requested_by: str = "") -> AgentOperation:
    """Ask the worker to answer the permission prompt on the agent's screen: approve (with
    the option numbered `choice`, or the profile's default) or deny."""
    if agent.state == AgentState.STOPPED:
        raise Conflict(f"{agent.target} is stopped")
    if choice is not None and not 1 <= choice <= 9:
        raise InvalidInput("choice: must be an option number from 1 to 9")
    kind = OperationKind.APPROVE if approve else OperationKind.DENY
    with transaction.atomic():
        return _request(agent, kind, requested_by, argument="" if choice is None else str(choice))


def _request(agent: Agent, kind: str, requested_by: str, argument: str = "") -> AgentOperation:
    operation = AgentOperation.objects.create(agent=agent, kind=kind, requested_by=requested_by, argument=argument)
    enqueue_operation(operation)
    return operation


def operations_resume(*, host: str) -> int:
    """Enqueue again the operations of `host` whose job went missing: still pending well
    after they were asked for, or claimed by a worker that died. The embedded broker
    loses the job a SIGKILLed worker held; the claim makes a second copy harmless."""
    now = timezone.now()
    lost = AgentOperation.objects.filter(agent__host=host).filter(
        Q(status=OperationStatus.PENDING, created_at__lt=now - LOST_AFTER)
        | Q(status=OperationStatus.RUNNING, started_at__lt=now - STALE_RUNNING)
    ).select_related("agent")
    for operation in lost:
        enqueue_operation(operation)
    return len(lost)


# --- on the agent's host, in the worker ------------------------------------------------------


def operation_run(*, operation_id: int, gateway: Gateway | None = None) -> None:
    """Carry out one requested operation; its row records the outcome.

    The claim is a conditional update, so a duplicate delivery does nothing; a claim left
    by a worker that died is taken over, and the operations look at tmux before acting,
    so nothing is done twice.
    """
    operation = AgentOperation.objects.select_related("agent").filter(pk=operation_id).first()
    if operation is None or not _claim(operation):
        return
    agent = operation.agent
    try:
        if agent.host != _local_host():
            raise InvalidInput(f"this worker runs host {_local_host()}, not {agent.host}")
        RUNNERS[operation.kind](agent, gateway or local_gateway(), operation.argument)
    except (TmuxError, InvalidInput) as error:
        _finish(operation, OperationStatus.FAILED, str(error))
        if operation.kind in (OperationKind.SPAWN, OperationKind.RESTART):
            agent.set_state(AgentState.CRASHED, f"{operation.kind} failed: {error}")
    except Exception as error:
        log.exception("%s of %s failed", operation.kind, agent)
        _finish(operation, OperationStatus.FAILED, f"unexpected error: {error}")
        raise
    else:
        _finish(operation, OperationStatus.SUCCEEDED)


def _claim(operation: AgentOperation) -> bool:
    now = timezone.now()
    age = (now - operation.created_at).total_seconds()
    pending = AgentOperation.objects.filter(pk=operation.pk, status=OperationStatus.PENDING)
    if age > settings.TMUX_ORC.operation_expiry:
        reason = f"expired: no worker for host {operation.agent.host} took it within {age:.0f} s"
        if pending.update(status=OperationStatus.FAILED, error=reason, finished_at=now) and (
            operation.kind == OperationKind.SPAWN
        ):
            operation.agent.set_state(AgentState.CRASHED, reason)
        return False
    stale = AgentOperation.objects.filter(
        pk=operation.pk, status=OperationStatus.RUNNING, started_at__lt=now - STALE_RUNNING
    )
    return bool(pending.update(status=OperationStatus.RUNNING, started_at=now)) or bool(
        stale.update(started_at=now)
    )


def _finish(operation: AgentOperation, status: str, error: str = "") -> None:
    AgentOperation.objects.filter(pk=operation.pk, status=OperationStatus.RUNNING).update(
        status=status, error=error[:1000], finished_at=timezone.now()
    )


def _window_spec(agent: Agent, resume: bool = False) -> tuple[WindowSpec, Profile]:
    profile = get_profile(agent.profile)
    if profile is None:
        raise InvalidInput(f"profile {agent.profile!r} is no longer configured")
    if not (shutil.which(profile.program) if not os.path.isabs(profile.program) else os.access(profile.program, os.X_OK)):
        raise InvalidInput(f"{profile.program!r} (profile {profile.name}) is not installed on host {agent.host}")
    if agent.worktree_of:
        worktree_ensure(repository=agent.worktree_of, path=agent.project_path, branch=agent.git_branch)
    if not os.path.isdir(agent.project_path):
        raise InvalidInput(f"project_path {agent.project_path!r} does not exist on host {agent.host}")
    token = agent_token_issue(agent=agent)
    env = {
        **base_environment(), **dict(profile.env), "TMUX_ORC_AGENT_ID": str(agent.pk),
        "TMUX_ORC_AGENT_TARGET": agent.target, "TMUX_ORC_URL": public_url(), "TMUX_ORC_TOKEN": token,
    }
    argv = [*profile.argv, *(profile.resume_args if resume else ())]
    if settings.TMUX_ORC.agent_mcp and profile.mcp_config_option:
        argv = [*argv, profile.mcp_config_option, _mcp_config_write(agent, token)]
    argv = [*argv, *hooks_arguments(agent, profile.hooks)]
    # The environment goes in a file the pane's launcher reads, not on a command line.
    spec = WindowSpec(agent.session_name, agent.name, launch_command(agent.pk, argv, env), agent.project_path)
    return spec, profile


def _mcp_config_path(agent: Agent) -> Path:
    return Path(settings.DATA_DIR) / "mcp" / f"agent-{agent.pk}.json"


def _mcp_config_write(agent: Agent, token: str) -> str:
    """The orchestrator's MCP server (/mcp on the web server) for the agent's program, with
    the agent's own token; readable by this user only."""
    path = _mcp_config_path(agent)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    server = {"type": "http", "url": f"{public_url()}/mcp", "headers": {"Authorization": f"Bearer {token}"}}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"mcpServers": {"tmux-orchestrator": server}}, handle, indent=2)
    return str(path)


def agent_pane(gateway: Gateway, agent: Agent) -> PaneInfo | None:
    """The agent's pane if tmux still has it: by id, or by name after a lost claim.

    The id alone is not enough: a tmux server that restarted hands out `%0` again.
    """
    for pane in gateway.list_panes():
        in_its_window = (pane.session_name, pane.window_name) == (agent.session_name, agent.name)
        if in_its_window and (pane.pane_id == agent.tmux_pane_id or not agent.tmux_pane_id):
            return pane
    return None


def _started(agent: Agent, window: CreatedWindow, reason: str, resumed: bool = False, **fields) -> None:
    """Record the new program, and queue its briefing as its first message (once); a program
    that resumed its conversation gets a short note instead."""
    now = timezone.now()
    agent.set_state(
        AgentState.STARTING, reason,
        tmux_session_id=window.session_id, tmux_window_id=window.window_id, tmux_pane_id=window.pane_id,
        pane_pid=window.pid, started_at=now, last_activity_at=now, stopped_at=None, **fields,
    )
    agent.messages.filter(kind=MessageKind.BRIEFING, status=MessageStatus.QUEUED).update(
        status=MessageStatus.FAILED, error="superseded: the agent was started again"
    )
    if resumed:  # it remembers its briefing: a short note says what happened
        briefing = RESUMED_NOTE
    else:
        briefing = "\n\n".join(part for part in [agent.briefing, *context_briefs(agent)] if part)
    if briefing:
        Message.objects.create(agent=agent, kind=MessageKind.BRIEFING, body=briefing, sender="orchestrator")
    enqueue_delivery(agent)


def _spawn(agent: Agent, gateway: Gateway, argument: str = "") -> None:
    agent.refresh_from_db()
    if agent.state == AgentState.STOPPED:
        return  # killed before its window was made (e.g. a deploy undone): nothing to start
    pane = agent_pane(gateway, agent)
    if pane is not None:  # created by an earlier attempt whose worker died
        window = CreatedWindow(pane.session_id, pane.window_id, pane.pane_id, pane.pid or 0)
    else:
        window = gateway.create_window(_window_spec(agent)[0])
    _started(agent, window, "program started")


def _restart(agent: Agent, gateway: Gateway, argument: str = "") -> None:
    profile = get_profile(agent.profile)
    resume = argument != FRESH and bool(profile and profile.resume_args)
    spec, _ = _window_spec(agent, resume=resume)
    pane = agent_pane(gateway, agent) if agent.tmux_pane_id else None
    if pane is not None:
        pid = gateway.respawn(pane.pane_id, command=spec.command, cwd=spec.cwd, env=spec.env)
        window = CreatedWindow(pane.session_id, pane.window_id, pane.pane_id, pid)
    else:
        window = gateway.create_window(spec)
    how = f"restarted, resuming its conversation ({' '.join(profile.resume_args)})" if resume else "restarted"
    _started(agent, window, how, resumed=resume, restart_count=agent.restart_count + 1)


def _kill(agent: Agent, gateway: Gateway, argument: str = "") -> None:
    if agent.tmux_window_id:
        gateway.kill_window(agent.tmux_window_id)
    reason = "killed"
    if agent.worktree_of:
        reason += f"; {worktree_remove(repository=agent.worktree_of, path=agent.project_path)}"
    agent.set_state(AgentState.STOPPED, reason, stopped_at=timezone.now())
    ApiToken.objects.filter(agent=agent, revoked_at=None).update(revoked_at=timezone.now())
    _mcp_config_path(agent).unlink(missing_ok=True)
    hooks_path(agent).unlink(missing_ok=True)
    agent.messages.filter(status__in=[MessageStatus.QUEUED, MessageStatus.SCHEDULED]).update(
        status=MessageStatus.FAILED, error="the agent was killed")


def _answer(agent: Agent, gateway: Gateway, keys: tuple[str, ...]) -> None:
    profile = get_profile(agent.profile)
    if profile is None or not agent.tmux_pane_id or agent_pane(gateway, agent) is None:
        raise InvalidInput(f"{agent.target} has no window")
    pane = agent.tmux_pane_id
    on_screen = lambda: classify_screen(gateway.capture_panes([pane]).get(pane, ""), profile)  # noqa: E731
    if on_screen() != AgentState.WAITING_APPROVAL:
        raise InvalidInput(f"{agent.target} is not showing a permission prompt")
    gateway.send_keys(pane, *keys)
    deadline = time.monotonic() + 10
    while on_screen() == AgentState.WAITING_APPROVAL:
        if time.monotonic() > deadline:
            raise InvalidInput(f"the permission prompt of {agent.target} is still on screen after the answer")
        time.sleep(0.1)
    agent.set_state(AgentState.WORKING, "permission prompt answered")


def _approve(agent: Agent, gateway: Gateway, argument: str = "") -> None:
    _answer(agent, gateway, (argument,) if argument else get_profile(agent.profile).approve_keys)


def _deny(agent: Agent, gateway: Gateway, argument: str = "") -> None:
    _answer(agent, gateway, get_profile(agent.profile).deny_keys)


RUNNERS = {
    OperationKind.SPAWN: _spawn, OperationKind.RESTART: _restart, OperationKind.KILL: _kill,
    OperationKind.APPROVE: _approve, OperationKind.DENY: _deny,
}


# --- messages ------------------------------------------------------------------------------

MAX_MESSAGE = 200_000


def message_send(*, agent: Agent, body: str, urgent: bool = False, sender: str = "", sent_with=None) -> Message:
    """Queue `body` for the agent. The row is committed before anything is typed; the
    agent's host worker delivers it when the agent is idle (at once, interrupting, if urgent).
    `sent_with` is the API token it came with, if any."""
    _check_message(agent, body)
    with transaction.atomic():
        message = Message.objects.create(agent=agent, body=_as_typed(body, sent_with), urgent=urgent, sender=sender,
                                         sent_with=sent_with)
        enqueue_delivery(agent)
    return message


def _check_message(agent: Agent, body: str) -> None:
    if not body or not body.strip():
        raise InvalidInput("message: must not be empty")
    if len(body) > MAX_MESSAGE:
        raise InvalidInput(f"message: at most {MAX_MESSAGE} characters (got {len(body)})")
    if agent.state == AgentState.STOPPED:
        raise Conflict(f"{agent.target} is stopped; messages cannot reach it")


def _as_typed(body: str, sent_with) -> str:
    """The text the recipient sees: an agent's message says which agent it is from, so no
    agent can pass as a person (`TMUX_ORC_FROM_AGENT_FORMAT`)."""
    sender = sent_with.agent if sent_with is not None and sent_with.agent_id else None
    if sender is None:
        return body
    return settings.TMUX_ORC.from_agent_format.replace("{sender}", sender.target).replace("{message}", body)


def message_broadcast(
    *, sessions: list[str], body: str, agent_types: list[str] | None = None, urgent: bool = False, sender: str = "",
    sent_with=None,
) -> list[Message]:
    """Queue `body` for every live agent in `sessions` (of `agent_types`, if given)."""
    for session in sessions:
        check_name("sessions", session)
    unknown = sorted(set(agent_types or []) - set(all_agent_types()))
    if unknown:
        raise InvalidInput(f"agent_types_only: unknown types {', '.join(unknown)}")
    agents = Agent.objects.filter(session_name__in=sessions).exclude(state=AgentState.STOPPED)
    if agent_types:
        agents = agents.filter(agent_type__in=agent_types)
    if not agents.exists():
        of_types = f" of types {', '.join(agent_types)}" if agent_types else ""
        raise NotFound(f"no live agents{of_types} in sessions {', '.join(sessions)}")
    with transaction.atomic():
        return [message_send(agent=agent, body=body, urgent=urgent, sender=sender, sent_with=sent_with)
                for agent in agents]


MAX_SCHEDULE_MINUTES = 60 * 24 * 30


def message_schedule(*, agent: Agent, body: str, minutes: float, sender: str = "", sent_with=None) -> Message:
    """Keep `body` for the agent and queue it `minutes` from now (a check-in). It is a row
    in the database until then: restarts of the service do not lose it."""
    if not 0 < minutes <= MAX_SCHEDULE_MINUTES:
        raise InvalidInput(f"minutes: more than 0 and at most {MAX_SCHEDULE_MINUTES} (30 days)")
    _check_message(agent, body)
    return Message.objects.create(agent=agent, body=_as_typed(body, sent_with), sender=sender, sent_with=sent_with,
                                  status=MessageStatus.SCHEDULED, not_before=timezone.now() + timedelta(minutes=minutes))


def message_cancel(*, message: Message, by: str = "") -> Message:
    """Call off a message not yet typed (scheduled or queued)."""
    cancelled = Message.objects.filter(
        pk=message.pk, status__in=[MessageStatus.SCHEDULED, MessageStatus.QUEUED]
    ).update(status=MessageStatus.CANCELLED, error=f"cancelled by {by or 'a person'}")
    message.refresh_from_db()
    if not cancelled:
        raise Conflict(f"message {message.pk} is {message.status}; only a scheduled or queued one can be cancelled")
    return message


def messages_release_due() -> int:
    """Queue the scheduled messages whose time has come, and wake their delivery."""
    due = Message.objects.filter(status=MessageStatus.SCHEDULED, not_before__lte=timezone.now())
    released = 0
    for message in due.select_related("agent"):
        if message.agent.state == AgentState.STOPPED:
            Message.objects.filter(pk=message.pk, status=MessageStatus.SCHEDULED).update(
                status=MessageStatus.FAILED, error="the agent was killed before its time came")
        elif Message.objects.filter(pk=message.pk, status=MessageStatus.SCHEDULED).update(status=MessageStatus.QUEUED):
            released += 1
            enqueue_delivery(message.agent)
    return released


def report_status(*, agent: Agent, text: str) -> AgentReport:
    """Record what the agent says of its own work."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput("text: must not be empty")
    if len(text) > 10_000:
        raise InvalidInput("text: at most 10000 characters")
    if agent.state == AgentState.STOPPED:
        raise Conflict(f"{agent.target} is stopped")
    return AgentReport.objects.create(agent=agent, text=text)


def message_expire_stale() -> int:
    """Mark messages no worker delivered in time `expired`, so nothing types them hours late.
    A scheduled message's time counts from when it was due, not when it was written."""
    cutoff = timezone.now() - timedelta(seconds=settings.TMUX_ORC.message_expiry)
    return Message.objects.filter(status=MessageStatus.QUEUED).filter(
        Q(not_before__lt=cutoff) | Q(not_before=None, created_at__lt=cutoff)
    ).update(status=MessageStatus.EXPIRED, error=f"not delivered within {settings.TMUX_ORC.message_expiry:.0f} s")
