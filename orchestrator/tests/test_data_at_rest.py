"""What the service keeps, and what it shows when it fails, is its user's alone."""

import os
import re
import stat
import subprocess
import sys

import yaml
from django.conf import settings
from django.test import RequestFactory
from django.views.debug import technical_500_response

from conftest import ROOT
from orchestrator.config import load

SECRET_VALUES = {
    "TMUX_ORC_SECRET_KEY": "secret-key-3e1f77",
    "DATABASE_URL": "postgres://orc:db-password-a1b2@db.internal/orc",
    "REDIS_URL": "redis://:broker-password-c3d4@redis.internal:6379/0",
    "SMTP_PASSWORD": "smtp-password-e5f6",
    "SLACK_WEBHOOK_URL": "https://hooks.example/services/webhook-secret-0a0b",
}


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_data_directory_and_its_database_and_broker_are_private(tmp_path):
    data = tmp_path / "data"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TMUX_ORC_") and k not in (
        "DATABASE_URL", "REDIS_URL")}
    environment.update(TMUX_ORC_DATA_DIR=str(data), DJANGO_SETTINGS_MODULE="orchestrator.settings")
    script = "import django; django.setup(); from django.db import connection; connection.ensure_connection()"
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=environment, check=True, timeout=60)

    assert _mode(data) == 0o700
    assert _mode(data / "orchestrator.sqlite3") == 0o600
    assert _mode(data / "secret_key") == 0o600
    assert {_mode(folder) for folder in (data / "broker").iterdir()} == {0o700}


def test_the_settings_never_show_a_secret_in_their_repr():
    config = load({**SECRET_VALUES, "TMUX_ORC_CONFIG": str(ROOT / "config" / "orchestrator.example.toml")})

    shown = repr(config)
    assert [name for name, value in SECRET_VALUES.items() if value in shown] == []
    assert "message_expiry=3600.0" in shown  # the rest is shown as it is


def test_a_debug_error_page_shows_no_secret(monkeypatch):
    config = load({**SECRET_VALUES, "TMUX_ORC_CONFIG": str(ROOT / "config" / "orchestrator.example.toml")})
    monkeypatch.setattr(settings, "TMUX_ORC", config)
    monkeypatch.setattr(settings, "CELERY_BROKER_URL", SECRET_VALUES["REDIS_URL"])
    request = RequestFactory().get("/agents/list")
    orc = settings.TMUX_ORC  # noqa: F841 - a local variable of the failing frame, as views have
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        page = technical_500_response(request, *sys.exc_info()).content.decode()

    assert "boom" in page and "TMUX_ORC" in page
    assert [name for name, value in SECRET_VALUES.items() if value in page] == []


def test_docker_compose_ships_no_usable_secret():
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    service = compose["x-orchestrator"]["environment"]
    postgres = compose["services"]["postgres"]["environment"]

    required = re.compile(r"^\$\{(\w+):\?[^}]+\}$")
    assert required.match(service["TMUX_ORC_SECRET_KEY"]), "the secret key must be required, not defaulted"
    assert required.match(postgres["POSTGRES_PASSWORD"])
    assert "${POSTGRES_PASSWORD:?" in service["DATABASE_URL"]

