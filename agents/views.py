"""The agents API: validate, call one service or selector, render."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from agents import selectors, services
from agents.hooks import agent_hook_report
from agents.models import AgentOperation, OperationStatus
from agents.roles import wait_timeout
from agents.serializers import (
    AgentSerializer,
    AnswerSerializer,
    BroadcastSerializer,
    HistoryQuerySerializer,
    HookResultSerializer,
    MessageSerializer,
    SendSerializer,
    WaitQuerySerializer,
    AgentStatusSerializer,
    ReportResultSerializer,
    ReportSerializer,
    ScheduleSerializer,
    ListQuerySerializer,
    OperationResultSerializer,
    SpawnSerializer,
    StatusQuerySerializer,
    TargetSerializer,
)
from orchestrator.api import ErrorBody, paged
from orchestrator.errors import Forbidden, InvalidInput
from orchestrator.permissions import Caller
from orchestrator.serializers import validated

OPERATION_RESPONSES = {
    200: OperationResultSerializer,
    202: OpenApiResponse(OperationResultSerializer, description="Not finished within the wait; still queued or running."),
    404: OpenApiResponse(description="No agent at that target."),
    409: OpenApiResponse(description="The agent's state does not allow it (e.g. already stopped)."),
    422: OpenApiResponse(description="The worker tried and failed; `error_message` says why."),
}


CODES = {
    OperationStatus.SUCCEEDED: status.HTTP_200_OK,
    OperationStatus.FAILED: status.HTTP_422_UNPROCESSABLE_ENTITY,
    OperationStatus.CANCELLED: status.HTTP_422_UNPROCESSABLE_ENTITY,
    OperationStatus.PENDING: status.HTTP_202_ACCEPTED,
    OperationStatus.RUNNING: status.HTTP_202_ACCEPTED,
}


def operation_response(operation: AgentOperation, *, success_status: int = status.HTTP_200_OK) -> Response:
    """Wait (bounded) for the worker, then say truthfully how far the operation got."""
    agent = selectors.operation_outcome(operation, timeout=wait_timeout(operation.agent.agent_type))
    code, detail = CODES[agent.last_operation.status], agent.detail
    data = OperationResultSerializer(agent).data
    if code == status.HTTP_422_UNPROCESSABLE_ENTITY:
        return Response(ErrorBody(error_message=detail, data=data), status=code)
    return Response(data, status=success_status if code == status.HTTP_200_OK else code)


class AgentViewSet(viewsets.ViewSet):
    @extend_schema(
        operation_id="agents_spawn", summary="Spawn an agent",
        request=SpawnSerializer,
        responses={
            **OPERATION_RESPONSES,
            201: OperationResultSerializer,
            409: OpenApiResponse(description="A live agent already has that session:window."),
            429: OpenApiResponse(description="Too many spawns in progress on the host (max_concurrent_spawns)."),
        },
    )
    @action(detail=False, methods=["post"])
    def spawn(self, request):
        """Start an agent program in a new tmux window of `session_name`."""
        caller = Caller.of_request(request)
        data = validated(SpawnSerializer, request.data)
        caller.require_lead("spawn agents", sessions=[data["session_name"]])
        operation = services.agent_spawn(
            session_name=data["session_name"], agent_type=data["agent_type"], project_path=data["project_path"],
            briefing=data["briefing_message"], profile=data.get("profile"), name=data.get("name"),
            requested_by=caller.name,
        )
        return operation_response(operation, success_status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="agents_status", summary="An agent's status",
        parameters=[StatusQuerySerializer],
        responses={200: AgentStatusSerializer, 404: OpenApiResponse(description="No agent at that target.")},
    )
    @action(detail=False, methods=["get"])
    def status(self, request):
        """An agent's state, uptime and health; with `explain=true`, how it came to that
        state: the signal that set it, the markers its screen matched and the lines read."""
        query = validated(StatusQuerySerializer, request.query_params)
        agent = selectors.agent_get(target=query["target"])
        return Response(selectors.agent_status(agent=agent, include_activity=query["include_activity"],
                                               explain=query["explain"]))

    @extend_schema(
        operation_id="agents_list", summary="List agents",
        parameters=[ListQuerySerializer], responses=AgentSerializer(many=True),
    )
    @action(detail=False, methods=["get"], url_path="list")
    def list_agents(self, request):
        """Live agents (and stopped ones with `include_stopped=true`)."""
        query = validated(ListQuerySerializer, request.query_params)
        agents = selectors.agent_list(include_stopped=query["include_stopped"], session_name=query.get("session_name"))
        return paged(request, agents, query, AgentSerializer)

    @extend_schema(
        operation_id="agents_restart", summary="Restart an agent", request=TargetSerializer,
        responses=OPERATION_RESPONSES,
    )
    @action(detail=False, methods=["post"])
    def restart(self, request):
        """Start the agent's program again in the same window."""
        caller = Caller.of_request(request)
        agent = selectors.agent_get(target=validated(TargetSerializer, request.data)["target"])
        caller.require_lead("restart agents", of=agent)
        return operation_response(services.agent_restart(agent=agent, requested_by=caller.name))

    @extend_schema(
        operation_id="agents_kill", summary="Kill an agent", request=TargetSerializer, responses=OPERATION_RESPONSES
    )
    @action(detail=False, methods=["post"])
    def kill(self, request):
        """Remove the agent's window; the agent ends `stopped`."""
        caller = Caller.of_request(request)
        agent = selectors.agent_get(target=validated(TargetSerializer, request.data)["target"])
        caller.require_lead("kill agents", of=agent)
        return operation_response(services.agent_kill(agent=agent, requested_by=caller.name))


    @extend_schema(operation_id="agents_report", summary="Report on your own work", request=ReportSerializer,
                   responses={201: ReportResultSerializer, 403: OpenApiResponse(description="Not your agent.")})
    @action(detail=False, methods=["post"])
    def report(self, request):
        """What an agent says it is doing; standups take it as the agent's reply. With an
        agent's own token, `target` is that agent."""
        data = validated(ReportSerializer, request.data)
        caller = Caller.of_request(request)
        agent = _target_or_self(caller, data.get("target"))
        caller.require_self(agent, "report status")
        report = services.report_status(agent=agent, text=data["text"])
        return Response(ReportResultSerializer(report).data, status=status.HTTP_201_CREATED)


    @extend_schema(
        operation_id="agents_hook", summary="An agent program's hook reports its own state",
        request={"application/json": {"type": "object", "description": "The hook's JSON as the program sends it "
                                      "(hook_event_name, prompt, notification_type, source, ...)."}},
        responses={200: HookResultSerializer, 403: OpenApiResponse(description="Not an agent's own token.")},
    )
    @action(detail=False, methods=["post"])
    def hook(self, request):
        """What agents/hook_report.py posts for each Claude Code hook, with the agent's own
        token: the program says it took a prompt (and which), finished its turn, or asks
        for permission. Only an agent's own token may speak for it."""
        caller = Caller.of_request(request)
        if caller.agent is None:
            raise Forbidden("hooks are reported with the agent's own token (TMUX_ORC_TOKEN in its pane)")
        return Response(HookResultSerializer(agent_hook_report(agent=caller.agent, payload=request.data)).data)


def _target_or_self(caller: Caller, target: str | None):
    """The agent at `target`; without one, the caller's own agent (a person must name one)."""
    if target:
        return selectors.agent_get(target=target)
    if caller.agent is None:
        raise InvalidInput("target: required with a person's token")
    return caller.agent


def _answer(request, approve: bool):
    caller = Caller.of_request(request)
    data = validated(AnswerSerializer, request.data)
    agent = selectors.agent_get(target=data["target"])
    caller.require_lead("answer permission prompts", of=agent)
    operation = services.agent_answer_prompt(agent=agent, approve=approve, choice=data.get("choice"),
                                             requested_by=caller.name)
    return operation_response(operation)


class ApprovalViewSet(viewsets.ViewSet):
    """Answers to an agent's permission prompt ("Do you want to proceed?")."""

    @extend_schema(operation_id="agents_approve", summary="Approve a permission prompt",
                   request=AnswerSerializer, responses=OPERATION_RESPONSES)
    @action(detail=False, methods=["post"])
    def approve(self, request):
        """Pick `choice` (default: the profile's "yes") at the prompt on the agent's screen."""
        return _answer(request, approve=True)

    @extend_schema(operation_id="agents_deny", summary="Deny a permission prompt",
                   request=AnswerSerializer, responses=OPERATION_RESPONSES)
    @action(detail=False, methods=["post"])
    def deny(self, request):
        """Refuse the request on the agent's screen."""
        return _answer(request, approve=False)


MESSAGE_RESPONSES = {
    201: OpenApiResponse(MessageSerializer, description="Queued (or, with `wait`, as far as it got)."),
    404: OpenApiResponse(description="No agent at that target."),
    409: OpenApiResponse(description="The agent is stopped."),
}


class MessageViewSet(viewsets.ViewSet):
    lookup_value_regex = r"[0-9]{1,18}"
    @extend_schema(operation_id="messages_send", summary="Send a message to an agent",
                   request=SendSerializer, parameters=[WaitQuerySerializer], responses=MESSAGE_RESPONSES)
    @action(detail=False, methods=["post"])
    def send(self, request):
        """Queue a message; it is typed when the agent is idle (urgent: at once, interrupting it)."""
        wait = validated(WaitQuerySerializer, request.query_params)["wait"]
        data = validated(SendSerializer, request.data)
        caller = Caller.of_request(request)
        agent = selectors.agent_get(target=data["target"])
        caller.require_team_of(agent)
        message = services.message_send(agent=agent, body=data["message"], urgent=data["urgent"],
                                        sender=caller.name, sent_with=caller.token)
        message = selectors.message_wait(message=message, timeout=wait)
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="messages_broadcast", summary="Send a message to many agents",
                   request=BroadcastSerializer,
                   responses={201: MessageSerializer(many=True),
                              404: OpenApiResponse(description="No live agents in those sessions (of those types).")})
    @action(detail=False, methods=["post"])
    def broadcast(self, request):
        """Queue the message for every live agent of `sessions` (only `agent_types_only`, if given)."""
        data = validated(BroadcastSerializer, request.data)
        caller = Caller.of_request(request)
        caller.require_sessions_of_team(data["sessions"])
        messages = services.message_broadcast(sessions=data["sessions"], body=data["message"],
                                              agent_types=data["agent_types_only"], urgent=data["urgent"],
                                              sender=caller.name, sent_with=caller.token)
        return Response(MessageSerializer(messages, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="messages_schedule", summary="Schedule a message (a check-in)",
                   request=ScheduleSerializer,
                   responses={201: MessageSerializer, 404: OpenApiResponse(description="No agent at that target.")})
    @action(detail=False, methods=["post"])
    def schedule(self, request):
        """Keep a note for an agent (default: the orchestrator agent, or yourself with an
        agent's token) and queue it `minutes` from now. Cancel it with `/messages/{id}/cancel`."""
        data = validated(ScheduleSerializer, request.data)
        caller = Caller.of_request(request)
        if "target" in data:
            agent = selectors.agent_get(target=data["target"])
        else:
            agent = caller.agent or selectors.orchestrator_agent()
        caller.require_team_of(agent, "schedule messages")
        message = services.message_schedule(agent=agent, body=data["message"], minutes=data["minutes"],
                                            sender=caller.name, sent_with=caller.token)
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="messages_cancel", summary="Cancel a message not yet typed", request=None,
                   parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)],
                   responses={200: MessageSerializer, 404: OpenApiResponse(description="No such message."),
                              409: OpenApiResponse(description="Already typed, delivered or final.")})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Call off a scheduled or queued message."""
        message = selectors.message_get(message_id=int(pk))
        caller = Caller.of_request(request)
        if caller.agent is not None and not (message.sent_with and message.sent_with.agent_id == caller.agent.pk):
            caller.require_lead("cancel messages others sent", of=message.agent)
        return Response(MessageSerializer(services.message_cancel(message=message, by=caller.name)).data)

    @extend_schema(operation_id="messages_history", summary="An agent's conversation",
                   parameters=[HistoryQuerySerializer],
                   responses={200: MessageSerializer(many=True), 404: OpenApiResponse(description="No agent at that target.")})
    @action(detail=False, methods=["get"])
    def history(self, request):
        """The agent's messages, oldest first, each with what the agent answered."""
        query = validated(HistoryQuerySerializer, request.query_params)
        agent = selectors.agent_get(target=query["target"])
        return Response(MessageSerializer(selectors.message_history(agent=agent, limit=query["limit"]), many=True).data)

    @extend_schema(operation_id="messages_status", summary="A message's status",
                   parameters=[WaitQuerySerializer, OpenApiParameter("id", int, OpenApiParameter.PATH)],
                   responses={200: MessageSerializer, 404: OpenApiResponse(description="No such message.")})
    def retrieve(self, request, pk=None):
        """The message's status; with `wait`, once it is final or the wait is over."""
        wait = validated(WaitQuerySerializer, request.query_params)["wait"]
        message = selectors.message_wait(message=selectors.message_get(message_id=int(pk)), timeout=wait)
        return Response(MessageSerializer(message).data)
