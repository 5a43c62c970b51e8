"""The Celery app: one home for it. Workers consume `orchestrator` and their host's queue."""

import importlib
import importlib.util
import os
import threading

from celery import Celery
from django.apps import apps as django_apps
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


_importing = threading.Lock()


def _job(name: str):
    """The job registered as `name`. Outside a worker, the apps' jobs modules are imported on
    first use: once, whichever thread of the web process comes first."""
    if name not in app.tasks:
        with _importing:
            for config in django_apps.get_app_configs():
                if importlib.util.find_spec(f"{config.name}.jobs") is not None:
                    importlib.import_module(f"{config.name}.jobs")
    return app.tasks[name]
