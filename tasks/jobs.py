"""Celery jobs of the tasks app (named so as not to be confused with the app itself)."""

from celery import shared_task

from tasks import services


@shared_task(name="tasks.run_checks", time_limit=3600, soft_time_limit=3500, acks_late=True)
def run_task_checks(task_id: int, from_status: str, by: str = "") -> None:
    services.task_run_checks(task_id=task_id, from_status=from_status, by=by)
