"""Reads for tasks."""

from __future__ import annotations

from django.db.models import QuerySet

from agents.models import Agent
from orchestrator.errors import NotFound
from tasks.models import OPEN_STATUSES, Task


def task_get(*, task_id: int) -> Task:
    task = (Task.objects.select_related("assigned_to", "team").prefetch_related("tags", "events")
            .filter(pk=task_id).first())
    if task is None:
        raise NotFound(f"no task #{task_id}")
    return task


def task_list(
    *, status: str | None = None, priority: str | None = None, assigned_to: Agent | None = None,
    tag: str | None = None, team: str | None = None,
) -> QuerySet[Task]:
    tasks = Task.objects.select_related("assigned_to", "team").prefetch_related("tags")
    if status:
        tasks = tasks.filter(status=status)
    if priority:
        tasks = tasks.filter(priority=priority)
    if assigned_to is not None:
        tasks = tasks.filter(assigned_to=assigned_to)
    if tag:
        tasks = tasks.filter(tags__name=tag)
    if team:
        tasks = tasks.filter(team__name=team, team__torn_down_at=None)
    return tasks.distinct()


def task_brief(task: Task) -> str:
    """The task as a message to the agent doing it."""
    lines = [f"Task #{task.pk} ({task.priority} priority): {task.title}"]
    if task.description:
        lines += ["", task.description]
    if task.completion_criteria:
        lines += ["", "Done when:", *[f"- {item}" for item in task.completion_criteria]]
    if task.checks:
        lines += ["", "These checks must pass before it can be done:", *[f"- {check}" for check in task.checks]]
    tags = [tag.name for tag in task.tags.all()]
    extra = [f"estimate {task.estimated_hours} h" if task.estimated_hours else "",
             f"tags: {', '.join(tags)}" if tags else ""]
    if any(extra):
        lines += ["", "; ".join(part for part in extra if part).capitalize() + "."]
    lines += ["", "Move it along as you go (in_progress, review, blocked with a note, done):",
              f"  tmux-orc task update {task.pk} --status in_progress",
              f"  curl -X POST $TMUX_ORC_URL/tasks/{task.pk}/status -H \"Authorization: Bearer $TMUX_ORC_TOKEN\" "
              f"-H 'Content-Type: application/json' -d '{{\"status\": \"review\", \"note\": \"...\"}}'"]
    return "\n".join(lines)


def task_open_brief(*, agent: Agent) -> str:
    """The agent's open tasks, briefed again after a restart."""
    tasks = list(Task.objects.filter(assigned_to=agent, status__in=OPEN_STATUSES).order_by("created_at"))
    if not tasks:
        return ""
    return "\n\n".join(["You were working on this before the restart:", *[task_brief(t) for t in tasks]])
