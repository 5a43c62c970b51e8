"""The Celery app: one home for it. Workers consume `orchestrator` and their host's queue."""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")

app = Celery("orchestrator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(related_name="jobs")


def host_queue(host: str) -> str:
    """The queue consumed by the one worker that owns `host`'s tmux server."""
    return f"host.{host}"


@worker_ready.connect
def _announce_worker(**kwargs) -> None:
    """A new worker says so at once, so health checks and sweeps know its host."""
    from monitoring.services import worker_started

    worker_started()
