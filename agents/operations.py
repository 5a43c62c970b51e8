"""The agents' operations, declared once (see orchestrator.operations): spawn, status, list,
restart, kill, report, approve, deny; send, broadcast, schedule, cancel, history and status
of messages."""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import status

from agents import selectors, services
from agents.models import AgentOperation, OperationStatus
from agents.roles import wait_timeout
from agents.serializers import (
    AgentSerializer,
    AgentStatusSerializer,
    AnswerSerializer,
    BroadcastSerializer,
    HistoryQuerySerializer,
    ListQuerySerializer,
    RestartSerializer,
    MessageSerializer,
    OperationResultSerializer,
    ReportResultSerializer,
    ReportSerializer,
    ScheduleSerializer,
    SendSerializer,
    StatusQuerySerializer,
    TargetSerializer,
    WaitQuerySerializer,
)
from agents.serializers import SpawnSerializer
from orchestrator.errors import InvalidInput
from orchestrator.operations import PathParam, Result, operation, page
from orchestrator.serializers import PageQuerySerializer

OPERATION_RESPONSES = {
    200: OperationResultSerializer,
    202: OpenApiResponse(OperationResultSerializer, description="Not finished within the wait; still queued or running."),
    404: OpenApiResponse(description="No agent at that target."),
    409: OpenApiResponse(description="The agent's state does not allow it (e.g. already stopped)."),
    422: OpenApiResponse(description="The worker tried and failed; `error_message` says why."),
}
NO_AGENT = OpenApiResponse(description="No agent at that target.")
MESSAGE_ID = PathParam("id", int, r"[0-9]{1,18}", "The message's id.")
NO_MESSAGE = OpenApiResponse(description="No such message.")

CODES = {
    OperationStatus.SUCCEEDED: status.HTTP_200_OK,
    OperationStatus.FAILED: status.HTTP_422_UNPROCESSABLE_ENTITY,
    OperationStatus.CANCELLED: status.HTTP_422_UNPROCESSABLE_ENTITY,
    OperationStatus.PENDING: status.HTTP_202_ACCEPTED,
    OperationStatus.RUNNING: status.HTTP_202_ACCEPTED,
}


def operation_result(operation: AgentOperation, *, ok: int = status.HTTP_200_OK) -> Result:
    """Wait (bounded) for the worker, then say truthfully how far the operation got."""
    agent = selectors.operation_outcome(operation, timeout=wait_timeout(operation.agent.agent_type))
    code = CODES[agent.last_operation.status]
    data = OperationResultSerializer(agent).data
    if code == status.HTTP_422_UNPROCESSABLE_ENTITY:
        return Result(data, code, error=agent.detail)
    return Result(data, ok if code == status.HTTP_200_OK else code)


# --- agents -------------------------------------------------------------------------------


@operation("agents_spawn", "POST", "/agents/spawn", summary="Spawn an agent", body=SpawnSerializer, ok=201,
           responses={**OPERATION_RESPONSES, 201: OperationResultSerializer,
                      409: OpenApiResponse(description="A live agent already has that session:window, or the "
                                                       "host's worker is not alive."),
                      429: OpenApiResponse(description="Too many spawns in progress on the host.")})
def agents_spawn(caller, data):
    """Start an agent program in a new tmux window of `session_name` and brief it (people and
    lead agents only)."""
    caller.require_lead("spawn agents", sessions=[data["session_name"]])
    operation = services.agent_spawn(
        session_name=data["session_name"], agent_type=data["agent_type"], project_path=data["project_path"],
        briefing=data["briefing_message"], profile=data.get("profile"), name=data.get("name"),
        host=data.get("host"), requested_by=caller.name,
    )
    return operation_result(operation, ok=status.HTTP_201_CREATED)


@operation("agents_status", "GET", "/agents/status", summary="An agent's status", query=StatusQuerySerializer,
           responses={200: AgentStatusSerializer, 404: NO_AGENT})
def agents_status(caller, query):
    """An agent's state, why, uptime, last activity and health score (0-100); with
    `explain=true`, how it came to that state: the signal that set it, the markers its screen
    matched and the lines read, its program's last hook."""
    agent = selectors.agent_get(target=query["target"])
    return selectors.agent_status(agent=agent, include_activity=query["include_activity"], explain=query["explain"])


@operation("agents_list", "GET", "/agents/list", summary="List agents", query=ListQuerySerializer,
           responses={200: AgentSerializer(many=True)})
def agents_list(caller, query):
    """Live agents (and stopped ones with `include_stopped=true`): target, type, state, team,
    project path, last activity."""
    agents = selectors.agent_list(include_stopped=query["include_stopped"], session_name=query.get("session_name"))
    return page(agents, query, AgentSerializer)


@operation("agents_restart", "POST", "/agents/restart", summary="Restart an agent", body=RestartSerializer,
           responses=OPERATION_RESPONSES)
def agents_restart(caller, data):
    """Start the agent's program again in the same window (people and lead agents only). By
    default a program whose profile can resume continues its last conversation and gets a
    short note; `resume=false` starts it fresh, briefed again."""
    agent = selectors.agent_get(target=data["target"])
    caller.require_lead("restart agents", of=agent)
    return operation_result(services.agent_restart(agent=agent, requested_by=caller.name, resume=data["resume"]))


@operation("agents_kill", "POST", "/agents/kill", summary="Kill an agent", body=TargetSerializer,
           responses=OPERATION_RESPONSES)
def agents_kill(caller, data):
    """Remove the agent's window; the agent ends `stopped` (people and lead agents only)."""
    agent = selectors.agent_get(target=data["target"])
    caller.require_lead("kill agents", of=agent)
    return operation_result(services.agent_kill(agent=agent, requested_by=caller.name))


@operation("agents_report", "POST", "/agents/report", summary="Report on your own work", body=ReportSerializer,
           ok=201, responses={201: ReportResultSerializer, 403: OpenApiResponse(description="Not your agent.")})
def agents_report(caller, data):
    """What an agent says it is doing, did, or is blocked by; standups take it as the agent's
    reply. With an agent's own token, `target` is that agent."""
    agent = _target_or_self(caller, data.get("target"))
    caller.require_self(agent, "report status")
    return ReportResultSerializer(services.report_status(agent=agent, text=data["text"])).data


def _target_or_self(caller, target: str | None):
    """The agent at `target`; without one, the caller's own agent (a person must name one)."""
    if target:
        return selectors.agent_get(target=target)
    if caller.agent is None:
        raise InvalidInput("target: required with a person's token")
    return caller.agent


def _answer(caller, data, approve: bool) -> Result:
    agent = selectors.agent_get(target=data["target"])
    caller.require_lead("answer permission prompts", of=agent)
    return operation_result(services.agent_answer_prompt(agent=agent, approve=approve, choice=data.get("choice"),
                                                         requested_by=caller.name))


@operation("agents_approve", "POST", "/agents/approve", summary="Approve a permission prompt",
           body=AnswerSerializer, responses=OPERATION_RESPONSES)
def agents_approve(caller, data):
    """Pick `choice` (default: the profile's "yes") at the permission prompt ("Do you want to
    proceed?") on the agent's screen."""
    return _answer(caller, data, approve=True)


@operation("agents_deny", "POST", "/agents/deny", summary="Deny a permission prompt", body=AnswerSerializer,
           responses=OPERATION_RESPONSES)
def agents_deny(caller, data):
    """Refuse the request on the agent's screen."""
    return _answer(caller, data, approve=False)


# --- messages -----------------------------------------------------------------------------

MESSAGE_RESPONSES = {
    201: OpenApiResponse(MessageSerializer, description="Queued (or, with `wait`, as far as it got)."),
    404: NO_AGENT,
    409: OpenApiResponse(description="The agent is stopped."),
}


@operation("messages_send", "POST", "/messages/send", summary="Send a message to an agent", body=SendSerializer,
           query=WaitQuerySerializer, ok=201, responses=MESSAGE_RESPONSES)
def messages_send(caller, data):
    """Queue a message, typed exactly as written and submitted once when the agent is idle
    (urgent: at once, interrupting it). Agents message within their own team."""
    agent = selectors.agent_get(target=data["target"])
    caller.require_team_of(agent)
    message = services.message_send(agent=agent, body=data["message"], urgent=data["urgent"],
                                    sender=caller.name, sent_with=caller.token)
    return MessageSerializer(selectors.message_wait(message=message, timeout=data["wait"])).data


@operation("messages_broadcast", "POST", "/messages/broadcast", summary="Send a message to many agents",
           body=BroadcastSerializer, ok=201,
           responses={201: MessageSerializer(many=True),
                      404: OpenApiResponse(description="No live agents in those sessions (of those types).")})
def messages_broadcast(caller, data):
    """Queue the message for every live agent of `sessions` (only `agent_types_only`, if
    given). Agents broadcast to their own team only."""
    caller.require_sessions_of_team(data["sessions"])
    messages = services.message_broadcast(sessions=data["sessions"], body=data["message"],
                                          agent_types=data["agent_types_only"], urgent=data["urgent"],
                                          sender=caller.name, sent_with=caller.token)
    return MessageSerializer(messages, many=True).data


@operation("messages_schedule", "POST", "/messages/schedule", summary="Schedule a message (a check-in)",
           body=ScheduleSerializer, ok=201, responses={201: MessageSerializer, 404: NO_AGENT})
def messages_schedule(caller, data):
    """Keep a note for an agent (default: the orchestrator agent, or yourself with an agent's
    token) and queue it `minutes` from now; it survives restarts. Cancel it with
    messages_cancel."""
    if "target" in data:
        agent = selectors.agent_get(target=data["target"])
    else:
        agent = caller.agent or selectors.orchestrator_agent()
    caller.require_team_of(agent, "schedule messages")
    message = services.message_schedule(agent=agent, body=data["message"], minutes=data["minutes"],
                                        sender=caller.name, sent_with=caller.token)
    return MessageSerializer(message).data


@operation("messages_scheduled", "GET", "/messages/scheduled", summary="Messages waiting for their time",
           query=PageQuerySerializer, responses={200: MessageSerializer(many=True)})
def messages_scheduled(caller, query):
    """Scheduled messages (check-ins) not yet due, soonest first."""
    return page(selectors.messages_scheduled(), query, MessageSerializer)


@operation("messages_cancel", "POST", "/messages/{id}/cancel", summary="Cancel a message not yet typed",
           params=(MESSAGE_ID,),
           responses={200: MessageSerializer, 404: NO_MESSAGE,
                      409: OpenApiResponse(description="Already typed, delivered or final.")})
def messages_cancel(caller, data):
    """Call off a scheduled or queued message (an agent: its own, unless it is a lead)."""
    message = selectors.message_get(message_id=data["id"])
    if caller.agent is not None and not (message.sent_with and message.sent_with.agent_id == caller.agent.pk):
        caller.require_lead("cancel messages others sent", of=message.agent)
    return MessageSerializer(services.message_cancel(message=message, by=caller.name)).data


@operation("messages_history", "GET", "/messages/history", summary="An agent's conversation",
           query=HistoryQuerySerializer, responses={200: MessageSerializer(many=True), 404: NO_AGENT})
def messages_history(caller, query):
    """The agent's latest `limit` messages, oldest first, each with what the agent answered
    (`reply`)."""
    agent = selectors.agent_get(target=query["target"])
    return MessageSerializer(selectors.message_history(agent=agent, limit=query["limit"]), many=True).data


@operation("messages_status", "GET", "/messages/{id}", summary="A message's status", query=WaitQuerySerializer,
           params=(MESSAGE_ID,), responses={200: MessageSerializer, 404: NO_MESSAGE})
def messages_status(caller, query):
    """The message's status; with `wait`, once it is final or the wait is over."""
    message = selectors.message_get(message_id=query["id"])
    return MessageSerializer(selectors.message_wait(message=message, timeout=query["wait"])).data
