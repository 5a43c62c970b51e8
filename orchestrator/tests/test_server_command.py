"""`bin/run` and `tmux-orc server start` before they serve anything."""

import os
import shutil
import subprocess

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from conftest import ROOT
from orchestrator.management.commands.server import startup_token
from orchestrator.models import ApiToken, token_digest


def test_run_command_without_tmux_says_how_to_install_it_and_stops(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(shutil.which("dirname"), bin_dir / "dirname")  # all bin/run needs before its check

    result = subprocess.run(["/bin/bash", str(ROOT / "bin" / "run")], env={"PATH": str(bin_dir)},
                            capture_output=True, text=True, timeout=30)

    assert result.returncode == 1
    assert "tmux is not installed" in result.stderr and "apt-get install tmux" in result.stderr


def test_server_start_without_tmux_stops_with_the_install_hint(monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "tmux" else real_which(name, *a, **k))
    with pytest.raises(CommandError, match="apt-get install tmux"):
        call_command("server", "start")


@pytest.mark.django_db
def test_the_startup_token_is_made_once_and_kept_private(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    first = startup_token()
    path = settings.DATA_DIR / "api_token"

    assert startup_token() == first
    assert ApiToken.objects.filter(digest=token_digest(first), revoked_at=None).count() == 1
    assert oct(path.stat().st_mode & 0o777) == "0o600"


@pytest.mark.django_db
def test_a_revoked_startup_token_is_replaced(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    from orchestrator.services import token_revoke

    first = startup_token()
    token_revoke(name=ApiToken.objects.get(digest=token_digest(first)).name)

    second = startup_token()

    assert second != first and ApiToken.objects.filter(digest=token_digest(second), revoked_at=None).exists()
