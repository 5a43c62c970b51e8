"""Celery jobs of the tasks app (named so as not to be confused with the app itself)."""

from celery import shared_task
from django.conf import settings

from orchestrator.job_limits import check_run_limits
from tasks import services

# A run of the most checks a task may have; each enqueued run carries the limits of its own checks.
SOFT_LIMIT, HARD_LIMIT = check_run_limits(settings.TMUX_ORC.check_timeout)


@shared_task(name="tasks.run_checks", time_limit=HARD_LIMIT, soft_time_limit=SOFT_LIMIT, acks_late=True)
def run_task_checks(task_id: int, from_status: str, by: str = "") -> None:
    services.task_run_checks(task_id=task_id, from_status=from_status, by=by)


@shared_task(name="tasks.resume_checks", time_limit=30)
def resume_checks() -> None:
    services.task_checks_resume()
