"""The Celery app: one home for it. Workers consume `orchestrator` and their host's queue."""

import os

from celery import Celery
from django.db import transaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")

app = Celery("orchestrator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(related_name="jobs")


def host_queue(host: str) -> str:
    """The queue consumed by the one worker that owns `host`'s tmux server."""
    return f"host.{host}"


def enqueue(name: str, *, args: list, **options) -> None:
    """Queue the job registered as `name` once the current transaction commits (at once
    outside one). Services enqueue by name, so jobs import services and never the other way
    round; the job is looked up in the app's registry, so tests' eager mode still applies."""
    transaction.on_commit(lambda: _job(name).apply_async(args=args, **options))


def _job(name: str):
    if name not in app.tasks:  # outside a worker, the apps' jobs modules are imported on first use
        app.loader.import_default_modules()
    return app.tasks[name]
