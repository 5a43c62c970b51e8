"""The Celery app: one home for it. Workers consume `orchestrator` and their host's queue."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")

app = Celery("orchestrator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(related_name="jobs")


def host_queue(host: str) -> str:
    """The queue consumed by the one worker that owns `host`'s tmux server."""
    return f"host.{host}"
