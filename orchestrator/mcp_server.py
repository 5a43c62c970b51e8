"""The MCP server: the orchestrator's operations as tools, over stdio and Streamable HTTP.

Every tool is a thin interface over the same services and selectors as the REST API, with
the same permission rules (`orchestrator.permissions`) and the same error messages, which
come back as tool errors. Tools are plain functions: the SDK runs them in worker threads,
where the Django ORM may block.
"""

import functools
import os
from typing import Annotated, Any, Literal

from django.db import close_old_connections, connections, transaction
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import BaseModel, Field
from rest_framework.exceptions import ValidationError

from agents import selectors as agent_selectors
from agents import services as agent_services
from agents.roles import wait_timeout
from agents.serializers import (
    AgentSerializer,
    BroadcastSerializer,
    ListQuerySerializer,
    ReportSerializer,
    MessageSerializer,
    OperationResultSerializer,
    ReportResultSerializer,
    ScheduleSerializer,
    SendSerializer,
    SpawnSerializer,
)
from monitoring.selectors import system_health, system_status
from orchestrator.errors import OrchestratorError
from orchestrator.permissions import Caller
from orchestrator.serializers import error_text, validated
from orchestrator.throttling import refusal, token_wait
from tasks import selectors as task_selectors
from tasks import services as task_services
from tasks.serializers import (
    TaskCreateSerializer,
    TaskDetailSerializer,
    TaskFieldsSerializer,
    TaskListQuerySerializer,
    TaskPageSerializer,
)
from teams import selectors as team_selectors
from teams import services as team_services
from teams.serializers import (
    DeployResultSerializer,
    DeployTeamSerializer,
    StandupRequestSerializer,
    StandupSerializer,
    TeamSerializer,
    TeamStatusSerializer,
)

INSTRUCTIONS = """\
TMUX Orchestrator runs AI coding agents in tmux windows. An agent is named by its target,
"session:window" (a team's agents share the session named after the team). Use list_agents
and team_status to see who is there and what state each is in (idle, working,
waiting_approval, stuck, crashed, failed, stopped). Messages are typed into an agent's
input when it is idle; urgent ones interrupt it. Tasks move pending -> assigned ->
in_progress -> review -> done (or blocked, cancelled). Report your own progress with
report_status: standups read it."""

Target = Annotated[str, Field(description='The agent, as "session:window" (e.g. "my-app:Claude-developer").')]


# --- who is calling -----------------------------------------------------------------------


class ApiTokenVerifier(TokenVerifier):
    """The service's own API tokens, as bearer tokens for /mcp."""

    async def verify_token(self, token: str) -> AccessToken | None:
        from asgiref.sync import sync_to_async

        from orchestrator.services import token_check

        found = await sync_to_async(_in_worker_thread(token_check), thread_sensitive=False)(token)
        if found is None:
            return None
        return AccessToken(token=token, client_id=str(found.pk), scopes=[])


_stdio_token_id: int | None = None  # the token TMUX_ORC_TOKEN named when `tmux-orc mcp` started


def stdio_token_id() -> int | None:
    """Over stdio, the caller is whoever runs the server: the agent whose token is in
    TMUX_ORC_TOKEN (agents launched by the orchestrator have theirs), else the local person."""
    from orchestrator.services import token_check

    raw = os.environ.get("TMUX_ORC_TOKEN", "")
    if not raw:
        return None
    token = token_check(raw)
    if token is None:
        raise OrchestratorError("TMUX_ORC_TOKEN is set but is not a valid token (revoked, or from another server)")
    return token.pk


def _caller(ctx: Context) -> Caller:
    """Who calls, read again at every call: a token revoked meanwhile no longer works."""
    from orchestrator.models import ApiToken

    request = ctx.request_context.request
    if request is None:
        token_id = _stdio_token_id
        if token_id is None:
            return Caller("mcp:local")
    else:
        access = getattr(request.scope.get("user"), "access_token", None)
        token_id = int(access.client_id) if access else None
    token = ApiToken.objects.select_related("agent").filter(pk=token_id, revoked_at=None).first()
    if token is None:
        raise ToolError("the token was revoked")
    if (wait := token_wait(token)) is not None:
        raise ToolError(refusal(token, wait))
    return Caller(f"token:{token.name}", token)


def _in_worker_thread(fn):
    """Run `fn` in one of the SDK's worker threads: its database connection is closed after,
    as Django does at the end of a request, so no idle thread keeps one open."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    return run


def tool(fn):
    """Each tool: its own database connection, a caller whose token still holds (reads
    too), and domain errors as tool errors."""

    @_in_worker_thread
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            _caller(kwargs["ctx"])
            return fn(*args, **kwargs)
        except OrchestratorError as error:
            raise ToolError(error.message) from None
        except ValidationError as error:
            raise ToolError(error_text(error.detail)) from None

    return run


def _operation(operation) -> dict:
    agent = agent_selectors.operation_outcome(operation, timeout=wait_timeout(operation.agent.agent_type))
    return OperationResultSerializer(agent).data


# --- agents --------------------------------------------------------------------------------


@tool
def list_agents(
    ctx: Context,
    session_name: Annotated[str | None, Field(description="Only this session (team).")] = None,
    include_stopped: Annotated[bool, Field(description="Also agents that were killed.")] = False,
) -> list[dict[str, Any]]:
    """List the agents: target, type, state, team, project path, last activity."""
    query = validated(ListQuerySerializer, {"include_stopped": include_stopped,
                                            **({"session_name": session_name} if session_name else {})})
    agents = agent_selectors.agent_list(include_stopped=query["include_stopped"], session_name=query.get("session_name"))
    return AgentSerializer(agents, many=True).data


@tool
def agent_status(
    ctx: Context, target: Target,
    include_activity: Annotated[bool, Field(description="Also the latest state changes.")] = False,
) -> dict[str, Any]:
    """One agent's state, why, uptime, last activity and health score (0-100)."""
    agent = agent_selectors.agent_get(target=target)
    return agent_selectors.agent_status(agent=agent, include_activity=include_activity)


@tool
def spawn_agent(
    ctx: Context,
    session_name: Annotated[str, Field(description="tmux session; created if missing.")],
    agent_type: Annotated[str, Field(description="pm, developer, qa, devops, reviewer, orchestrator, or custom.")],
    project_path: Annotated[str, Field(description="Absolute path of the directory it works in.")],
    briefing: Annotated[str, Field(description="Its first message: who it is and what to do.")] = "",
    profile: Annotated[str | None, Field(description="Agent program: claude, codex, aider, gemini, shell.")] = None,
    name: Annotated[str | None, Field(description="Window name; default <Profile>-<agent_type>.")] = None,
) -> dict[str, Any]:
    """Start a new agent in a tmux window and brief it (people and lead agents only)."""
    caller = _caller(ctx)
    caller.require_lead("spawn agents", sessions=[session_name])
    data = validated(SpawnSerializer, {k: v for k, v in {
        "session_name": session_name, "agent_type": agent_type, "project_path": project_path,
        "briefing_message": briefing, "profile": profile, "name": name}.items() if v is not None})
    return _operation(agent_services.agent_spawn(
        session_name=data["session_name"], agent_type=data["agent_type"], project_path=data["project_path"],
        briefing=data["briefing_message"], profile=data.get("profile"), name=data.get("name"),
        requested_by=caller.name))


@tool
def restart_agent(ctx: Context, target: Target) -> dict[str, Any]:
    """Start the agent's program again in its window, briefed again (people and lead agents only)."""
    caller = _caller(ctx)
    agent = agent_selectors.agent_get(target=target)
    caller.require_lead("restart agents", of=agent)
    return _operation(agent_services.agent_restart(agent=agent, requested_by=caller.name))


@tool
def kill_agent(ctx: Context, target: Target) -> dict[str, Any]:
    """Remove the agent's window; it ends stopped (people and lead agents only)."""
    caller = _caller(ctx)
    agent = agent_selectors.agent_get(target=target)
    caller.require_lead("kill agents", of=agent)
    return _operation(agent_services.agent_kill(agent=agent, requested_by=caller.name))


@tool
def send_message(
    ctx: Context, target: Target,
    message: Annotated[str, Field(description="The text, typed exactly as written and submitted once.")],
    urgent: Annotated[bool, Field(description="Interrupt the agent if it is working.")] = False,
    wait_seconds: Annotated[float, Field(ge=0, le=120, description="Wait this long for delivery.")] = 0,
) -> dict[str, Any]:
    """Send a message to an agent (agents: within their own team). Delivered when it is idle."""
    caller = _caller(ctx)
    data = validated(SendSerializer, {"target": target, "message": message, "urgent": urgent})
    agent = agent_selectors.agent_get(target=data["target"])
    caller.require_team_of(agent)
    sent = agent_services.message_send(agent=agent, body=data["message"], urgent=data["urgent"],
                                       sender=caller.name, sent_with=caller.token)
    return MessageSerializer(agent_selectors.message_wait(message=sent, timeout=wait_seconds)).data


@tool
def broadcast(
    ctx: Context,
    sessions: Annotated[list[str], Field(description="Sessions (teams) whose live agents get it.")],
    message: Annotated[str, Field(description="The text.")],
    agent_types: Annotated[list[str], Field(description="Only these agent types; empty: all.")] = [],  # noqa: B006
    urgent: bool = False,
) -> list[dict[str, Any]]:
    """Send one message to every live agent of some sessions (agents: their own team only)."""
    caller = _caller(ctx)
    data = validated(BroadcastSerializer, {"sessions": sessions, "message": message,
                                           "agent_types_only": agent_types, "urgent": urgent})
    caller.require_sessions_of_team(data["sessions"])
    messages = agent_services.message_broadcast(
        sessions=data["sessions"], body=data["message"], agent_types=data["agent_types_only"],
        urgent=data["urgent"], sender=caller.name, sent_with=caller.token)
    return MessageSerializer(messages, many=True).data


@tool
def message_history(
    ctx: Context, target: Target,
    limit: Annotated[int, Field(ge=1, le=500, description="How many of the latest messages.")] = 20,
) -> list[dict[str, Any]]:
    """An agent's messages, oldest first, each with what the agent answered (`reply`)."""
    agent = agent_selectors.agent_get(target=target)
    return MessageSerializer(agent_selectors.message_history(agent=agent, limit=limit), many=True).data


def _answer(ctx: Context, target: str, approve: bool, choice: int | None = None) -> dict[str, Any]:
    caller = _caller(ctx)
    agent = agent_selectors.agent_get(target=target)
    caller.require_lead("answer permission prompts", of=agent)
    return _operation(agent_services.agent_answer_prompt(
        agent=agent, approve=approve, choice=choice, requested_by=caller.name))


@tool
def approve(
    ctx: Context, target: Target,
    choice: Annotated[int | None, Field(ge=1, le=9, description="The option number; default: yes.")] = None,
) -> dict[str, Any]:
    """Approve the permission prompt ("Do you want to proceed?") on an agent's screen."""
    return _answer(ctx, target, True, choice)


@tool
def deny(ctx: Context, target: Target) -> dict[str, Any]:
    """Refuse the permission prompt on an agent's screen."""
    return _answer(ctx, target, False)


# --- teams ---------------------------------------------------------------------------------


class Member(BaseModel):
    role: str = Field(description="An agent type: pm, developer, qa, devops, reviewer, ...")
    briefing: str = Field("", description="What this member does.")
    skills: list[str] = Field(default_factory=list)
    profile: str | None = Field(None, description="Its agent program; default from config.")


@tool
def deploy_team(
    ctx: Context,
    project_name: Annotated[str, Field(description="The team's name and tmux session.")],
    project_path: Annotated[str, Field(description="Absolute path of the project.")],
    team_type: Annotated[str | None, Field(description="A template: frontend, backend, fullstack, testing.")] = None,
    size: Annotated[int, Field(ge=1, le=20, description="Members taken from the template.")] = 3,
    members: Annotated[list[Member] | None, Field(description="The members, instead of a template.")] = None,
    coordination_strategy: Literal["hub_and_spoke", "peer_to_peer"] = "hub_and_spoke",
    isolation: Annotated[Literal["none", "worktree"], Field(description="worktree: a branch per engineer.")] = "none",
    profile: Annotated[str | None, Field(description="With team_type: every member's program.")] = None,
) -> dict[str, Any]:
    """Deploy a team in one go, each member briefed with the roster; all or nothing."""
    caller = _caller(ctx)
    caller.require_lead("deploy teams")  # a new team: not within a lead's own
    payload = {"project_name": project_name, "project_path": project_path, "size": size,
               "coordination_strategy": coordination_strategy, "isolation": isolation}
    optional = {"team_type": team_type, "profile": profile,
                "team_members": [m.model_dump(exclude_none=True) for m in members] if members is not None else None}
    data = validated(DeployTeamSerializer, {**payload, **{k: v for k, v in optional.items() if v is not None}})
    specs, template_name = DeployTeamSerializer.members(data)
    deployment = team_services.team_deploy(
        name=data["project_name"], project_path=data["project_path"], members=specs,
        coordination_strategy=data["coordination_strategy"], isolation=data["isolation"], template=template_name,
        requested_by=caller.name)
    started = [agent_selectors.operation_outcome(op, timeout=0) for op in deployment.operations]
    team = team_selectors.team_list(include_torn_down=True).get(pk=deployment.team.pk)
    return DeployResultSerializer({"team": team, "started": started}).data


@tool
def team_status(ctx: Context, name: Annotated[str, Field(description="The team's name.")]) -> dict[str, Any]:
    """A team's members and their states, and its tasks counted by status."""
    team = team_selectors.team_get(name=name)
    data = team_selectors.team_status(team=team)
    return TeamStatusSerializer({**data, "team": team_selectors.team_list().get(pk=team.pk)}).data


@tool
def list_teams(ctx: Context) -> list[dict[str, Any]]:
    """The active teams with their live members."""
    return TeamSerializer(team_selectors.team_list(), many=True).data


@tool
def standup(
    ctx: Context,
    session_names: Annotated[list[str], Field(description="Teams to ask; empty: every one.")] = [],  # noqa: B006
    include_idle_agents: bool = True,
    timeout_seconds: Annotated[int, Field(ge=1, le=3600, description="How long replies are collected.")] = 60,
    wait: Annotated[bool, Field(description="Return once it is over; false: at once, read it with standup_replies.")]
    = True,
) -> dict[str, Any]:
    """Ask each agent what it is doing and collect the replies; lists who did not answer."""
    caller = _caller(ctx)
    data = validated(StandupRequestSerializer, {"session_names": session_names, "include_idle_agents":
                                                include_idle_agents, "timeout_seconds": timeout_seconds, "wait": wait})
    caller.require_lead("hold standups", sessions=data["session_names"])
    held = team_services.standup_start(session_names=data["session_names"], timeout_seconds=data["timeout_seconds"],
                                       include_idle_agents=data["include_idle_agents"], requested_by=caller.name)
    if data["wait"]:
        team_services.standup_run(standup=held)
    return StandupSerializer(team_selectors.standup_get(standup_id=held.pk)).data


@tool
def standup_replies(ctx: Context, standup_id: int) -> dict[str, Any]:
    """A standup's replies so far, and who has not answered."""
    held = team_selectors.standup_get(standup_id=standup_id)
    if held.finished_at is None:
        team_services.standup_collect(standup=held)
    return StandupSerializer(team_selectors.standup_get(standup_id=standup_id)).data


@tool
def report_status(
    ctx: Context, text: Annotated[str, Field(description="What you did, what you are doing, what blocks you.")],
    target: Annotated[str | None, Field(description="Whose report; default (and only choice for an agent): yours.")]
    = None,
) -> dict[str, Any]:
    """Say what you (the agent calling) are working on; standups take it as your answer."""
    caller = _caller(ctx)
    data = validated(ReportSerializer, {"text": text, **({"target": target} if target else {})})
    if "target" in data:
        agent = agent_selectors.agent_get(target=data["target"])
    elif caller.agent is not None:
        agent = caller.agent
    else:
        raise ToolError("target: required when the caller is not an agent")
    caller.require_self(agent, "report status")
    return ReportResultSerializer(agent_services.report_status(agent=agent, text=data["text"])).data


@tool
def schedule_check_in(
    ctx: Context,
    minutes: Annotated[float, Field(gt=0, le=43200, description="How long from now.")],
    message: Annotated[str, Field(description="The note to deliver then.")],
    target: Annotated[str | None, Field(description="Who gets it; default: yourself, or the orchestrator agent.")] = None,
) -> dict[str, Any]:
    """Schedule a message for later (a check-in); it survives restarts and can be cancelled."""
    caller = _caller(ctx)
    data = validated(ScheduleSerializer, {k: v for k, v in {"target": target, "message": message,
                                                            "minutes": minutes}.items() if v is not None})
    agent = (agent_selectors.agent_get(target=data["target"]) if "target" in data
             else caller.agent or agent_selectors.orchestrator_agent())
    caller.require_team_of(agent, "schedule messages")
    return MessageSerializer(agent_services.message_schedule(
        agent=agent, body=data["message"], minutes=data["minutes"], sender=caller.name, sent_with=caller.token)).data


@tool
def cancel_message(ctx: Context, message_id: int) -> dict[str, Any]:
    """Call off a scheduled (or still queued) message, e.g. a check-in no longer needed."""
    caller = _caller(ctx)
    message = agent_selectors.message_get(message_id=message_id)
    if caller.agent is not None and not (message.sent_with and message.sent_with.agent_id == caller.agent.pk):
        caller.require_lead("cancel messages others sent", of=message.agent)
    return MessageSerializer(agent_services.message_cancel(message=message, by=caller.name)).data


# --- tasks ---------------------------------------------------------------------------------


@tool
def create_task(
    ctx: Context,
    title: str,
    description: str = "",
    priority: Literal["low", "medium", "high", "critical"] = "medium",
    assigned_to: Annotated[str | None, Field(description='"session:window" of the agent to give it to.')] = None,
    completion_criteria: Annotated[list[str], Field(description="What must be true when it is done.")] = [],  # noqa: B006
    estimated_hours: float | None = None,
    tags: list[str] = [],  # noqa: B006
    checks: Annotated[list[str], Field(description="Commands that must pass before done.")] = [],  # noqa: B006
    team: Annotated[str | None, Field(description="The team it belongs to.")] = None,
    project_path: Annotated[str | None, Field(description="Where its checks run; default the assignee's.")] = None,
) -> dict[str, Any]:
    """Create a task; with assigned_to, the agent gets its brief at once (people and leads only)."""
    caller = _caller(ctx)
    data = dict(validated(TaskCreateSerializer, {k: v for k, v in {
        "title": title, "description": description, "priority": priority, "assigned_to": assigned_to,
        "completion_criteria": completion_criteria, "estimated_hours": estimated_hours, "tags": tags,
        "checks": checks, "team": team, "project_path": project_path}.items() if v is not None}))
    assignee = agent_selectors.agent_get(target=data.pop("assigned_to")) if "assigned_to" in data else None
    in_team = team_selectors.team_get(name=data.pop("team")) if "team" in data else None
    caller.require_lead("create tasks", of=assignee, sessions=[in_team.name] if in_team else None)
    task = task_services.task_create(**data, assigned_to=assignee, team=in_team, created_by=caller.name)
    return TaskDetailSerializer(task_selectors.task_get(task_id=task.pk), context={"caller": caller}).data


@tool
def list_tasks(
    ctx: Context,
    status: Literal["pending", "assigned", "in_progress", "review", "done", "blocked", "cancelled"] | None = None,
    priority: Literal["low", "medium", "high", "critical"] | None = None,
    assigned_to: Annotated[str | None, Field(description='"session:window"')] = None,
    tag: str | None = None,
    team: str | None = None,
    limit: Annotated[int, Field(ge=1, le=500)] = 50,
    offset: Annotated[int, Field(ge=0)] = 0,
) -> dict[str, Any]:
    """Tasks, newest first, filtered by status, priority, assignee, tag or team; `count` is the total."""
    query = dict(validated(TaskListQuerySerializer, {k: v for k, v in {
        "status": status, "priority": priority, "assigned_to": assigned_to, "tag": tag, "team": team,
        "limit": limit, "offset": offset}.items() if v is not None}))
    limit, offset = query.pop("limit"), query.pop("offset")
    if "assigned_to" in query:
        query["assigned_to"] = agent_selectors.agent_get(target=query["assigned_to"])
    tasks = task_selectors.task_list(**query)
    return TaskPageSerializer({"count": tasks.count(), "limit": limit, "offset": offset,
                               "tasks": tasks[offset:offset + limit]}, context={"caller": _caller(ctx)}).data


@tool
def update_task(
    ctx: Context,
    task_id: int,
    status: Annotated[Literal["pending", "assigned", "in_progress", "review", "done", "blocked", "cancelled"] | None,
                      Field(description="Move it to this status (done runs its checks first).")] = None,
    note: Annotated[str, Field(description="Why, with a status move (e.g. what blocks it).")] = "",
    title: str | None = None,
    description: str | None = None,
    priority: Literal["low", "medium", "high", "critical"] | None = None,
    completion_criteria: list[str] | None = None,
    estimated_hours: float | None = None,
    tags: list[str] | None = None,
    checks: Annotated[list[str] | None, Field(description="Commands that must pass before done (leads).")] = None,
) -> dict[str, Any]:
    """Change a task's text or move its status (agents: their own tasks). All or nothing."""
    caller = _caller(ctx)
    task = task_selectors.task_get(task_id=task_id)
    caller.require_own_task(task, status=status)
    changes = validated(TaskFieldsSerializer, {k: v for k, v in {
        "title": title, "description": description, "priority": priority, "completion_criteria": completion_criteria,
        "estimated_hours": estimated_hours, "tags": tags, "checks": checks}.items() if v is not None})
    if "checks" in changes:
        caller.require_lead("set a task's checks")
    if not changes and status is None:
        raise ToolError("nothing to change: give status or a field to change")
    with transaction.atomic():  # a refused move leaves the text unchanged too
        if changes:
            task = task_services.task_update(task=task, by=caller.name, **changes)
        if status is not None:
            task_services.task_set_status(task=task, status=status, note=note, by=caller.name)
    return TaskDetailSerializer(task_selectors.task_get(task_id=task_id), context={"caller": caller}).data


@tool
def assign_task(ctx: Context, task_id: int, target: Target) -> dict[str, Any]:
    """Give a task to an agent; its brief goes to the agent as a message (people and leads only)."""
    caller = _caller(ctx)
    task, agent = task_selectors.task_get(task_id=task_id), agent_selectors.agent_get(target=target)
    caller.require_lead("assign tasks", of=agent)
    caller.require_own_task(task)
    task_services.task_assign(task=task, agent=agent, by=caller.name)
    return TaskDetailSerializer(task_selectors.task_get(task_id=task_id), context={"caller": caller}).data


# --- the system ----------------------------------------------------------------------------


@tool
def get_system_status(
    ctx: Context, include_agent_details: Annotated[bool, Field(description="Every agent's state too.")] = False,
) -> dict[str, Any]:
    """Health, agents by state and host, messages by status, and numbers of the last 24 hours."""
    return system_status(include_metrics=True, include_agent_details=include_agent_details)


@tool
def health(ctx: Context) -> dict[str, Any]:
    """Whether the database, broker, beat and each host's worker and tmux are working."""
    return system_health()


TOOLS = [
    list_agents, agent_status, spawn_agent, restart_agent, kill_agent, send_message, broadcast, message_history,
    approve, deny, deploy_team, team_status, list_teams, standup, standup_replies, report_status, schedule_check_in,
    cancel_message,
    create_task, list_tasks, update_task, assign_task, get_system_status, health,
]


def build_server(*, http: bool = False) -> MCPServer:
    """The server with every tool; over HTTP it requires an API token."""
    from agents.services import public_url

    options: dict[str, Any] = {}
    if http:
        url = public_url()
        options = {
            "token_verifier": ApiTokenVerifier(),
            "auth": AuthSettings(issuer_url=url, resource_server_url=f"{url}/mcp", validate_token_resource=False),
        }
    server = MCPServer(name="tmux-orchestrator", instructions=INSTRUCTIONS, **options)
    for fn in TOOLS:
        server.add_tool(fn)
    return server


def http_app():
    """The ASGI app for /mcp (and its protected-resource metadata). Origin and Host are
    checked by orchestrator.asgi, with Django's ALLOWED_HOSTS."""
    return build_server(http=True).streamable_http_app(
        streamable_http_path="/mcp", stateless_http=True, json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


def serve_stdio() -> None:
    """Serve the tools on standard input and output, as the caller TMUX_ORC_TOKEN names."""
    global _stdio_token_id
    _stdio_token_id = stdio_token_id()
    build_server().run("stdio")



