"""The tasks' operations, declared once (see orchestrator.operations): create, list, get,
update, assign and move. An agent's own token (other than a lead's) reads every task and
moves its own along."""

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse

from agents.selectors import agent_get
from orchestrator.errors import InvalidInput
from orchestrator.operations import PathParam, operation
from tasks import selectors, services
from tasks.serializers import (
    TaskAssignSerializer,
    TaskCreateSerializer,
    TaskDetailSerializer,
    TaskListQuerySerializer,
    TaskPageSerializer,
    TaskStatusSerializer,
    TaskUpdateSerializer,
)
from teams.selectors import team_get

TASK = PathParam("id", int, r"[0-9]{1,18}", "The task's id.")
NOT_FOUND = OpenApiResponse(description="No such task.")
FORBIDDEN = OpenApiResponse(description="An agent's token may change only its own tasks.")


def _detail(caller, task_id: int) -> dict:
    return TaskDetailSerializer(selectors.task_get(task_id=task_id), context={"caller": caller}).data


@operation("tasks_create", "POST", "/tasks/create", summary="Create a task", body=TaskCreateSerializer, ok=201,
           responses={201: TaskDetailSerializer, 403: FORBIDDEN,
                      404: OpenApiResponse(description="No agent or team by that name.")})
def tasks_create(caller, data):
    """Record a task; with `assigned_to`, assign it at once and the agent gets its brief
    (people and leads only)."""
    data = dict(data)
    assignee = agent_get(target=data.pop("assigned_to")) if "assigned_to" in data else None
    team = team_get(name=data.pop("team")) if "team" in data else None
    caller.require_lead("create tasks", of=assignee, sessions=[team.name] if team else None)
    task = services.task_create(**data, assigned_to=assignee, team=team, created_by=caller.name)
    return _detail(caller, task.pk)


@operation("tasks_list", "GET", "/tasks/list", summary="List tasks", query=TaskListQuerySerializer,
           responses={200: TaskPageSerializer})
def tasks_list(caller, query):
    """Tasks, newest first, filtered by status, priority, assignee, tag or team; `count` is
    the number of all that match."""
    query = dict(query)
    limit, offset = query.pop("limit"), query.pop("offset")
    if "assigned_to" in query:
        query["assigned_to"] = agent_get(target=query["assigned_to"])
    tasks = selectors.task_list(**query)
    found = {"count": tasks.count(), "limit": limit, "offset": offset, "tasks": tasks[offset:offset + limit]}
    return TaskPageSerializer(found, context={"caller": caller}).data


@operation("tasks_get", "GET", "/tasks/{id}", summary="A task", params=(TASK,),
           responses={200: TaskDetailSerializer, 404: NOT_FOUND})
def tasks_get(caller, data):
    """The task, with its history of moves and its last check results."""
    return _detail(caller, data["id"])


@operation("tasks_update", "PATCH", "/tasks/{id}", summary="Change a task", params=(TASK,),
           body=TaskUpdateSerializer, responses={200: TaskDetailSerializer, 403: FORBIDDEN, 404: NOT_FOUND,
                                                 409: OpenApiResponse(description="The status move is not allowed.")})
def tasks_update(caller, data):
    """Change what the task says (only the fields given) and, with `status`, move it: all or
    nothing, so a refused move leaves the text unchanged too. Agents change their own tasks."""
    changes = dict(data)
    task_id, move, note = changes.pop("id"), changes.pop("status", None), changes.pop("note")
    task = selectors.task_get(task_id=task_id)
    caller.require_own_task(task, status=move)
    if "checks" in changes:
        caller.require_lead("set a task's checks")
    if not changes and move is None:
        raise InvalidInput("nothing to change: give status or a field to change")
    with transaction.atomic():
        if changes:
            task = services.task_update(task=task, by=caller.name, **changes)
        if move is not None:
            services.task_set_status(task=task, status=move, note=note, by=caller.name)
    return _detail(caller, task_id)


@operation("tasks_assign", "POST", "/tasks/{id}/assign", summary="Assign a task", params=(TASK,),
           body=TaskAssignSerializer,
           responses={200: TaskDetailSerializer, 403: FORBIDDEN, 404: NOT_FOUND,
                      409: OpenApiResponse(description="Done, cancelled, or the agent is stopped.")})
def tasks_assign(caller, data):
    """Give the task to an agent; its brief goes to the agent as a message (people and leads
    only)."""
    task = selectors.task_get(task_id=data["id"])
    agent = agent_get(target=data["target"])
    caller.require_lead("assign tasks", of=agent)
    caller.require_own_task(task)
    services.task_assign(task=task, agent=agent, by=caller.name)
    return _detail(caller, task.pk)


@operation("tasks_status", "POST", "/tasks/{id}/status", summary="Move a task along", params=(TASK,),
           body=TaskStatusSerializer,
           responses={200: TaskDetailSerializer, 403: FORBIDDEN, 404: NOT_FOUND,
                      409: OpenApiResponse(description="Its current status does not allow that move.")})
def tasks_status(caller, data):
    """pending → assigned → in_progress → review → done; blocked; cancelled. A task with
    checks becomes done once they pass (`checks_running` while they run)."""
    task = selectors.task_get(task_id=data["id"])
    caller.require_own_task(task, status=data["status"])
    services.task_set_status(task=task, status=data["status"], note=data["note"], by=caller.name)
    return _detail(caller, task.pk)
