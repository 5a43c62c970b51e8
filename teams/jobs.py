"""Jobs for teams: closing standups whose time is up, whoever started them."""

from celery import shared_task

from teams.services import standups_finish_due


@shared_task(name="teams.finish_standups", time_limit=60)
def finish_standups() -> None:
    standups_finish_due()
