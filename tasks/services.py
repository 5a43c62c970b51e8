"""Writes for tasks: create, update, assign, and status moves that refuse impossible ones."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents.models import Agent, AgentState
from agents.services import message_send
from agents.validation import check_project_path
from orchestrator.celery import enqueue, host_queue
from orchestrator.errors import Conflict, InvalidInput
from orchestrator.job_limits import MAX_CHECKS, check_run_limits
from tasks.gates import GateResult, gate_names, run_check
from tasks.models import TRANSITIONS, Tag, Task, TaskEvent, TaskPriority, TaskStatus
from tasks.selectors import task_brief
from teams.models import Team

MAX_ITEMS = MAX_CHECKS  # of criteria, tags and checks alike; a run's time limit counts on it
CHECKS_LOST_AFTER = timedelta(minutes=2)  # asked for this long ago and not started: the job went missing


def check_task_fields(fields: dict) -> dict:
    """The editable fields, checked; each error names its field."""
    if "title" in fields:
        title = (fields["title"] or "").strip()
        if not 1 <= len(title) <= 200:
            raise InvalidInput("title: must be 1 to 200 characters")
        fields["title"] = title
    if "priority" in fields and fields["priority"] not in TaskPriority.values:
        raise InvalidInput(f"priority: one of {', '.join(TaskPriority.values)}")
    for name in ("completion_criteria", "tags", "checks"):
        if name in fields:
            given = fields[name] or []
            if not isinstance(given, (list, tuple)) or not all(isinstance(item, str) for item in given):
                raise InvalidInput(f"{name}: must be a list of texts")
            items = [item.strip() for item in given]
            if len(items) > MAX_ITEMS or not all(items):
                raise InvalidInput(f"{name}: at most {MAX_ITEMS} non-empty items")
            fields[name] = items
    if fields.get("estimated_hours") is not None:
        try:
            hours = Decimal(str(fields["estimated_hours"]))
        except InvalidOperation:
            raise InvalidInput("estimated_hours: must be a number") from None
        if not hours.is_finite() or not Decimal(0) <= hours <= Decimal(9999):
            raise InvalidInput("estimated_hours: must be between 0 and 9999")
        fields["estimated_hours"] = hours.quantize(Decimal("0.01"))
    if fields.get("project_path"):
        fields["project_path"] = check_project_path(fields["project_path"])
    unknown = [c.removeprefix("gate:") for c in fields.get("checks", []) if c.startswith("gate:")
               and c.removeprefix("gate:") not in gate_names()]
    if unknown:
        raise InvalidInput(f"checks: unknown gate {unknown[0]!r}; configured: {', '.join(gate_names()) or 'none'}")
    return fields


def _set_tags(task: Task, names: list[str]) -> None:
    task.tags.set([Tag.objects.get_or_create(name=name[:50])[0] for name in dict.fromkeys(names)])


def task_create(
    *, title: str, description: str = "", priority: str = TaskPriority.MEDIUM, assigned_to: Agent | None = None,
    completion_criteria: list[str] | None = None, estimated_hours=None, tags: list[str] | None = None,
    checks: list[str] | None = None, team: Team | None = None, project_path: str = "", created_by: str = "",
) -> Task:
    """Record a task; with `assigned_to`, assign it at once (its brief goes to the agent)."""
    fields = check_task_fields({"title": title, "priority": priority, "completion_criteria": completion_criteria,
                                "tags": tags, "checks": checks, "estimated_hours": estimated_hours,
                                "project_path": project_path})
    tag_names = fields.pop("tags")
    with transaction.atomic():
        task = Task.objects.create(description=description, team=team or (assigned_to and assigned_to.team),
                                   created_by=created_by, **fields)
        _set_tags(task, tag_names)
        TaskEvent.objects.create(task=task, to_status=TaskStatus.PENDING, by=created_by, note="created")
        if assigned_to is not None:
            task_assign(task=task, agent=assigned_to, by=created_by)
    return task


def task_update(*, task: Task, by: str = "", **fields) -> Task:
    """Change what the task says (title, description, priority, criteria, estimate, tags, checks)."""
    fields = check_task_fields(fields)
    tag_names = fields.pop("tags", None)
    with transaction.atomic():
        for name, value in fields.items():
            setattr(task, name, value)
        task.save(update_fields=[*fields, "updated_at"])  # only these: a status moved meanwhile stays moved
        if tag_names is not None:
            _set_tags(task, tag_names)
    return task


# No checks asked for, and no run of earlier ones counts: a run finishes only while its
# claim is still on the task.
NO_CHECKS = {"checks_requested_at": None, "checks_claimed_by": "", "checks_claimed_until": None}


def task_assign(*, task: Task, agent: Agent, by: str = "") -> Task:
    """Give the task to `agent` and send it the task's brief as a message."""
    if agent.state == AgentState.STOPPED:
        raise Conflict(f"{agent.target} is stopped; assign the task to a live agent")
    if task.status in (TaskStatus.DONE, TaskStatus.CANCELLED):
        raise Conflict(f"task #{task.pk} is {task.status}; it cannot be assigned")
    with transaction.atomic():
        previous = task.status
        Task.objects.filter(pk=task.pk).update(assigned_to=agent, status=TaskStatus.ASSIGNED,
                                               team=task.team or agent.team, updated_at=timezone.now(), **NO_CHECKS)
        task.refresh_from_db()
        TaskEvent.objects.create(task=task, from_status=previous, to_status=TaskStatus.ASSIGNED, by=by,
                                 note=f"assigned to {agent.target}")
        message_send(agent=agent, body=task_brief(task), sender=by or "orchestrator")
    return task


def task_set_status(*, task: Task, status: str, by: str = "", note: str = "") -> Task:
    """Move the task on, if its current status allows that move. A task with checks is
    `done` only once they pass: asking for done runs them (on the assignee's host)."""
    if status not in TaskStatus.values:
        raise InvalidInput(f"status: one of {', '.join(TaskStatus.values)}")
    allowed = TRANSITIONS[TaskStatus(task.status)]
    if status not in allowed:
        nexts = ", ".join(sorted(allowed)) or "nothing: it is final"
        raise Conflict(f"task #{task.pk} is {task.status}; it can move to {nexts}")
    if status == TaskStatus.ASSIGNED and task.assigned_to is None:
        raise Conflict(f"task #{task.pk} has nobody to be assigned to; assign it to an agent")
    if status == TaskStatus.DONE and task.checks:
        return _request_checks(task, by=by, note=note)
    return _move(task, status, by=by, note=note)


def _move(task: Task, status: str, *, by: str, note: str) -> Task:
    now = timezone.now()
    stamps = {"started_at": now} if status == TaskStatus.IN_PROGRESS and task.started_at is None else {}
    if status in (TaskStatus.DONE, TaskStatus.CANCELLED):
        stamps["finished_at"] = now
    with transaction.atomic():
        moved = Task.objects.filter(pk=task.pk, status=task.status).update(
            status=status, updated_at=now, **NO_CHECKS, **stamps)
        if not moved:
            raise Conflict(f"task #{task.pk} was changed meanwhile; look again")
        TaskEvent.objects.create(task=task, from_status=task.status, to_status=status, by=by, note=note)
    task.refresh_from_db()
    return task


def _request_checks(task: Task, *, by: str, note: str) -> Task:
    with transaction.atomic():
        Task.objects.filter(pk=task.pk).update(**{**NO_CHECKS, "checks_requested_at": timezone.now()}, check_results=[])
        TaskEvent.objects.create(task=task, from_status=task.status, to_status=task.status, by=by,
                                 note=f"done asked; running {len(task.checks)} check(s). {note}".strip())
        _enqueue_checks(task, by=by)
    task.refresh_from_db()
    return task


def _enqueue_checks(task: Task, *, by: str) -> None:
    soft, hard = check_run_limits(settings.TMUX_ORC.check_timeout, len(task.checks))
    host = task.assigned_to.host if task.assigned_to else settings.TMUX_ORC.agent_host
    enqueue("tasks.run_checks", args=[task.pk, task.status, by], queue=host_queue(host),
            expires=settings.TMUX_ORC.check_timeout, soft_time_limit=soft, time_limit=hard)


def task_checks_resume() -> int:
    """Enqueue again the checks whose job went missing: asked for a while ago and never
    started, or claimed by a worker that stopped before the run's time limit was over. The
    embedded broker loses the job a SIGKILLed worker held; the claim makes a copy harmless."""
    now = timezone.now()
    lost = Task.objects.exclude(checks_requested_at=None).filter(
        Q(checks_claimed_until=None, checks_requested_at__lt=now - CHECKS_LOST_AFTER)
        | Q(checks_claimed_until__lt=now)
    ).select_related("assigned_to")
    for task in lost:
        _enqueue_checks(task, by="checks")
    return len(lost)


def task_run_checks(*, task_id: int, from_status: str, by: str = "") -> None:
    """On the worker: run the task's checks in its project path, keep their output, and
    move the task to done if every one passed and nobody moved it meanwhile.

    The run is claimed first, so a second copy of the job (redelivered, or enqueued twice)
    does nothing while one runs; a claim still held after the run's time limit belonged to
    a worker that stopped, and is taken over."""
    task = Task.objects.select_related("assigned_to").filter(pk=task_id).first()
    if task is None or task.checks_requested_at is None:
        return
    if task.status != from_status:  # moved meanwhile, which ended this request (any now is newer)
        return
    claim = _claim_checks(task)
    if claim is None:
        return
    results = _run_checks(task)
    finished = Task.objects.filter(pk=task.pk, checks_claimed_by=claim).update(check_results=results, **NO_CHECKS)
    if not finished:
        return  # another worker took the run over: its results stand
    failed = [r["check"] for r in results if not r["passed"]]
    if failed:
        TaskEvent.objects.create(task=task, from_status=task.status, to_status=task.status, by="checks",
                                 note=f"not done: failed {', '.join(failed)}")
        return
    try:
        _move(task, TaskStatus.DONE, by=by, note="every check passed")
    except Conflict:
        pass  # moved by someone else while the checks ran; theirs stands


def _claim_checks(task: Task) -> str | None:
    """Take this request's run, if nobody holds it or its holder's time is up; return the
    claim (who holds it), or None."""
    now = timezone.now()
    _, hard = check_run_limits(settings.TMUX_ORC.check_timeout, len(task.checks))
    claim = f"{settings.TMUX_ORC.agent_host}:{os.getpid()}:{secrets.token_hex(3)}"
    claimed = Task.objects.filter(pk=task.pk, checks_requested_at=task.checks_requested_at).filter(
        Q(checks_claimed_until=None) | Q(checks_claimed_until__lt=now)
    ).update(checks_claimed_by=claim, checks_claimed_until=now + timedelta(seconds=hard))
    if not claimed:
        return None
    if task.checks_claimed_by:
        TaskEvent.objects.create(task=task, from_status=task.status, to_status=task.status, by="checks",
                                 note=f"checks taken over from {task.checks_claimed_by}, which stopped")
    return claim


def _run_checks(task: Task) -> list[dict]:
    """Each check's outcome; when the run's time is up, the checks left are failed, not run."""
    path = task.project_path or (task.assigned_to.project_path if task.assigned_to else "")
    results = []
    try:
        for check in task.checks:
            result = run_check(check, task, path) if path else GateResult(False, "no project path to run it in")
            results.append(_outcome(check, result))
    except SoftTimeLimitExceeded:
        stopped = GateResult(False, "not finished: the run went past its time limit")
        results += [_outcome(check, stopped) for check in task.checks[len(results):]]
    return results


def _outcome(check: str, result: GateResult) -> dict:
    return {"check": check, "passed": result.passed, "output": result.output, "ran_at": timezone.now().isoformat()}
