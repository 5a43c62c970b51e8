"""The tasks API: validate, call one service or selector, render. An agent's own token
(other than a lead's: orchestrator, pm) may read every task and move its own along."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from agents.selectors import agent_get
from orchestrator.permissions import Caller
from orchestrator.serializers import validated
from tasks import selectors, services
from tasks.serializers import (
    TaskAssignSerializer,
    TaskCreateSerializer,
    TaskDetailSerializer,
    TaskFieldsSerializer,
    TaskListQuerySerializer,
    TaskPageSerializer,
    TaskStatusSerializer,
)
from teams.selectors import team_get

ID = OpenApiParameter("id", int, OpenApiParameter.PATH)
NOT_FOUND = OpenApiResponse(description="No such task.")
FORBIDDEN = OpenApiResponse(description="An agent's token may change only its own tasks.")




class TaskViewSet(viewsets.ViewSet):
    lookup_value_regex = r"[0-9]{1,18}"

    @extend_schema(operation_id="tasks_create", summary="Create a task", request=TaskCreateSerializer,
                   responses={201: TaskDetailSerializer, 403: FORBIDDEN,
                              404: OpenApiResponse(description="No agent or team by that name.")})
    @action(detail=False, methods=["post"], url_path="create")
    def create_task(self, request):
        """Record a task; with `assigned_to`, assign it at once (the agent gets its brief)."""
        caller = Caller.of_request(request)
        data = dict(validated(TaskCreateSerializer, request.data))
        assignee = agent_get(target=data.pop("assigned_to")) if "assigned_to" in data else None
        team = team_get(name=data.pop("team")) if "team" in data else None
        caller.require_lead("create tasks", of=assignee, sessions=[team.name] if team else None)
        task = services.task_create(**data, assigned_to=assignee, team=team, created_by=caller.name)
        return Response(TaskDetailSerializer(selectors.task_get(task_id=task.pk), context={"caller": caller}).data, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="tasks_list", summary="List tasks", parameters=[TaskListQuerySerializer],
                   responses=TaskPageSerializer)
    @action(detail=False, methods=["get"], url_path="list")
    def list_tasks(self, request):
        """Tasks, newest first, filtered by status, priority, assignee, tag or team."""
        query = dict(validated(TaskListQuerySerializer, request.query_params))
        limit, offset = query.pop("limit"), query.pop("offset")
        if "assigned_to" in query:
            query["assigned_to"] = agent_get(target=query["assigned_to"])
        tasks = selectors.task_list(**query)
        page = {"count": tasks.count(), "limit": limit, "offset": offset, "tasks": tasks[offset:offset + limit]}
        return Response(TaskPageSerializer(page, context={"caller": Caller.of_request(request)}).data)

    @extend_schema(operation_id="tasks_get", summary="A task", parameters=[ID],
                   responses={200: TaskDetailSerializer, 404: NOT_FOUND})
    def retrieve(self, request, pk=None):
        """The task, with its history of moves and its last check results."""
        return Response(TaskDetailSerializer(selectors.task_get(task_id=int(pk)),
                                             context={"caller": Caller.of_request(request)}).data)

    @extend_schema(operation_id="tasks_update", summary="Change a task", parameters=[ID],
                   request=TaskFieldsSerializer, responses={200: TaskDetailSerializer, 403: FORBIDDEN, 404: NOT_FOUND})
    def partial_update(self, request, pk=None):
        """Change what the task says; only the fields given."""
        caller = Caller.of_request(request)
        task = selectors.task_get(task_id=int(pk))
        caller.require_own_task(task)
        data = validated(TaskFieldsSerializer, request.data)
        if "checks" in data:
            caller.require_lead("set a task's checks")
        services.task_update(task=task, by=caller.name, **data)
        return Response(TaskDetailSerializer(selectors.task_get(task_id=task.pk), context={"caller": caller}).data)

    @extend_schema(operation_id="tasks_assign", summary="Assign a task", parameters=[ID],
                   request=TaskAssignSerializer, responses={200: TaskDetailSerializer, 403: FORBIDDEN, 404: NOT_FOUND,
                                                            409: OpenApiResponse(description="Done, cancelled, or the agent is stopped.")})
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Give the task to an agent; its brief goes to the agent as a message."""
        caller = Caller.of_request(request)
        task = selectors.task_get(task_id=int(pk))
        agent = agent_get(target=validated(TaskAssignSerializer, request.data)["target"])
        caller.require_lead("assign tasks", of=agent)
        caller.require_own_task(task)
        services.task_assign(task=task, agent=agent, by=caller.name)
        return Response(TaskDetailSerializer(selectors.task_get(task_id=task.pk), context={"caller": caller}).data)

    @extend_schema(operation_id="tasks_status", summary="Move a task along", parameters=[ID],
                   request=TaskStatusSerializer,
                   responses={200: TaskDetailSerializer, 403: FORBIDDEN, 404: NOT_FOUND,
                              409: OpenApiResponse(description="Its current status does not allow that move.")})
    @action(detail=True, methods=["post"])
    def status(self, request, pk=None):
        """pending → assigned → in_progress → review → done; blocked; cancelled. A task with
        checks becomes done once they pass (`checks_running` while they run)."""
        caller = Caller.of_request(request)
        task = selectors.task_get(task_id=int(pk))
        data = validated(TaskStatusSerializer, request.data)
        caller.require_own_task(task, status=data["status"])
        services.task_set_status(task=task, status=data["status"], note=data["note"], by=caller.name)
        return Response(TaskDetailSerializer(selectors.task_get(task_id=task.pk), context={"caller": caller}).data)
