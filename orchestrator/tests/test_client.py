"""`tmux-orc` as a client of the REST API: where it finds the service and its token, and a
real run against a server that is not on its machine's data directory."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agents.models import Agent, AgentState
from conftest import TEST_CONFIG
from orchestrator import client
from orchestrator.services import token_create

TMUX_ORC = Path(sys.executable).parent / "tmux-orc"


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    path = tmp_path / "client.json"
    monkeypatch.setenv("TMUX_ORC_CLIENT_CONFIG", str(path))
    for name in ("TMUX_ORC_URL", "TMUX_ORC_TOKEN", "TMUX_ORC_AGENT_ID", "TMUX_ORC_AGENT_TARGET"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_the_client_config_is_readable_by_its_user_only_and_is_used(config_file):
    client.write_config("http://127.0.0.1:8123", "tmo_local")

    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert client.connection() == ("http://127.0.0.1:8123", "tmo_local")


def test_the_environment_wins_over_the_client_config(config_file, monkeypatch):
    client.write_config("http://127.0.0.1:8123", "tmo_local")
    monkeypatch.setenv("TMUX_ORC_URL", "https://orc.example/")
    monkeypatch.setenv("TMUX_ORC_TOKEN", "tmo_remote")

    assert client.connection() == ("https://orc.example", "tmo_remote")


def test_inside_an_agents_pane_the_local_users_config_is_never_read(config_file, monkeypatch):
    client.write_config("http://127.0.0.1:8123", "tmo_person")
    monkeypatch.setenv("TMUX_ORC_AGENT_TARGET", "shop:dev")

    with pytest.raises(client.ServiceError, match="agent's own TMUX_ORC_TOKEN"):
        client.connection()


def test_without_a_token_anywhere_it_says_how_to_get_one(config_file):
    with pytest.raises(client.ServiceError, match="no API token: set TMUX_ORC_URL and TMUX_ORC_TOKEN"):
        client.connection()


def test_an_unreadable_config_is_a_clear_error(config_file):
    config_file.write_text("{not json")

    with pytest.raises(client.ServiceError, match="cannot be read"):
        client.connection()


# --- against a real server ----------------------------------------------------------------


def tmux_orc(url: str, token: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """`tmux-orc ARGS` as on a machine of its own: another data directory, the service's
    address and a token."""
    env = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    env.update(TMUX_ORC_URL=url, TMUX_ORC_TOKEN=token, TMUX_ORC_DATA_DIR=str(data_dir),
               TMUX_ORC_CONFIG=str(TEST_CONFIG))
    return subprocess.run([str(TMUX_ORC), *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.django_db(transaction=True)
def test_the_cli_lists_and_refuses_as_a_remote_server_says(http_server, tmp_path):
    Agent.objects.create(name="dev", session_name="shop", agent_type="developer", profile="shell",
                         project_path="/tmp", host="test-host", state=AgentState.IDLE)
    _, token = token_create(name="laptop")

    listed = tmux_orc(http_server, token, tmp_path, "agent", "list")
    refused = tmux_orc(http_server, "tmo_not-a-token", tmp_path, "agent", "list")
    unreachable = tmux_orc("http://127.0.0.1:9", token, tmp_path, "agent", "list")

    assert listed.returncode == 0 and "shop:dev" in listed.stdout, listed.stderr
    assert refused.returncode == 1 and "refused the token" in refused.stderr, refused.stderr
    assert unreachable.returncode == 1 and "cannot reach the service at http://127.0.0.1:9" in unreachable.stderr
    assert "Traceback" not in refused.stderr + unreachable.stderr
