"""What an agent sees of the service from inside its own pane, on real tmux: no secret in its
environment, none in the tmux server's, and its token on no command line."""

import subprocess
import sys
from pathlib import Path

import pytest

from agents import services
from agents.environment import launch_path
from agents.models import Agent, Message
from conftest import prompt_shown, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SECRETS = {  # the service's own settings, as its environment would hold them
    "DATABASE_URL": "postgres://orc:db-password-1f3a@db.internal/orc",
    "REDIS_URL": "redis://:broker-password-77c2@redis.internal:6379/0",
    "TMUX_ORC_SECRET_KEY": "secret-key-9d0e4b",
    "SMTP_PASSWORD": "smtp-password-5a5a",
    "SLACK_WEBHOOK_URL": "https://hooks.example/services/webhook-secret-c0ffee",
    "TMUX_ORC_DATA_DIR_SECRET_MARKER": "not-for-agents-8e8e",
}


@pytest.fixture
def argvs(monkeypatch):
    """The argv of every process this test starts from now on."""
    started: list[list[str]] = []
    real = subprocess.Popen

    class Recording(real):
        def __init__(self, args, *rest, **kwargs):
            started.append([str(arg) for arg in (args if isinstance(args, (list, tuple)) else [args])])
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", Recording)
    return started


@pytest.fixture
def service_secrets(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return SECRETS


def _environment_of(path: Path) -> dict[str, str]:
    text = path.read_bytes().decode()
    return dict(entry.split("=", 1) for entry in text.split("\0") if "=" in entry)


def test_a_pane_has_the_allow_list_its_profile_and_its_identity_and_no_secret(
        service_secrets, argvs, gateway, project_dir, eager_jobs, tmp_path):
    operation = services.agent_spawn(session_name="env", agent_type="developer", project_path=project_dir,
                                     profile="shell")
    agent = Agent.objects.get(pk=operation.agent_id)
    wait_for(lambda: prompt_shown(gateway, agent), message="the shell prompt")
    written = tmp_path / "env.bin"
    gateway.type_text(agent.tmux_pane_id, f"env -0 > {written}")
    gateway.send_keys(agent.tmux_pane_id, "Enter")
    wait_for(lambda: written.exists() and written.read_bytes().endswith(b"\0"), message="env to write")

    seen = _environment_of(written)
    leaked = [name for name, value in SECRETS.items() if any(value in v for v in seen.values())]
    assert leaked == [], f"the service's {leaked} reached the pane"
    assert not [name for name in seen if name.startswith("TMUX_ORC_") and name not in (
        "TMUX_ORC_TOKEN", "TMUX_ORC_URL", "TMUX_ORC_AGENT_ID", "TMUX_ORC_AGENT_TARGET")]
    assert seen["TMUX_ORC_AGENT_TARGET"] == agent.target and seen["TMUX_ORC_AGENT_ID"] == str(agent.pk)
    assert seen["TMUX_ORC_URL"].startswith("http") and len(seen["TMUX_ORC_TOKEN"]) > 20
    assert seen["HOME"] and "TMUX_PANE" in seen
    assert str(Path(sys.prefix) / "bin") not in seen["PATH"].split(":"), "the service's virtualenv is on PATH"

    token = seen["TMUX_ORC_TOKEN"]
    assert not [argv for argv in argvs if any(token in arg for arg in argv)], "the token was on a command line"
    assert not launch_path(agent.pk).exists(), "the launch file was left behind"


def test_the_tmux_server_holds_no_secret_and_takes_none_from_clients(
        service_secrets, gateway, project_dir, eager_jobs):
    services.agent_spawn(session_name="env", agent_type="developer", project_path=project_dir, profile="shell")
    server_pid = gateway.run([["display-message", "-p", "#{pid}"]])[0]

    server_environment = _environment_of(Path(f"/proc/{server_pid}/environ"))
    global_environment = "\n".join(gateway.run([["show-environment", "-g"]]))
    assert [n for n, v in SECRETS.items() if any(v in value for value in server_environment.values())] == []
    assert [n for n, v in SECRETS.items() if v in global_environment] == []
    assert gateway.run([["show-options", "-gv", "update-environment"]]) == []


def test_from_inside_its_pane_an_agent_cannot_reach_past_its_token(live_server, gateway, project_dir, eager_jobs,
                                                                   tmp_path, monkeypatch, service_secrets):
    from django.conf import settings

    from orchestrator.models import ApiToken
    from teams.models import Team

    monkeypatch.setattr(settings.TMUX_ORC, "public_url", live_server.url)
    Team.objects.create(name="env", project_path=project_dir)
    blog = Team.objects.create(name="blog", project_path=project_dir)
    Agent.objects.create(name="dev", session_name="blog", agent_type="developer", profile="shell", team=blog,
                         project_path=project_dir, host="elsewhere", state="idle")
    operation = services.agent_spawn(session_name="env", agent_type="developer", project_path=project_dir,
                                     profile="shell")
    agent = Agent.objects.get(pk=operation.agent_id)
    wait_for(lambda: prompt_shown(gateway, agent), message="the shell prompt")
    said = tmp_path / "said.txt"
    cli = Path(sys.executable).with_name("tmux-orc")
    send = ("curl -s -o /dev/null -w '%{http_code}' -X POST \"$TMUX_ORC_URL/messages/send\" "
            "-H \"Authorization: Bearer $TMUX_ORC_TOKEN\" -H 'Content-Type: application/json' "
            "-d '{\"target\": \"blog:dev\", \"message\": \"rm -rf ~\"}'")
    script = (f"{{ env; echo curl=$({send}); {cli} token create pwned 2>&1; echo token=$?; "
              f"{cli} server start 2>&1; echo server=$?; {cli} agent kill blog:dev 2>&1; echo kill=$?; "
              f"{cli} agent list 2>&1; echo list=$?; }} > {said}; echo done >> {said}")
    gateway.type_text(agent.tmux_pane_id, script)
    gateway.send_keys(agent.tmux_pane_id, "Enter")
    wait_for(lambda: said.exists() and said.read_text().endswith("done\n"), timeout=60, message="the commands")

    lines = said.read_text()
    assert "curl=403" in lines  # the API refuses its token outside its team
    assert "token=2" in lines and "runs on the server's machine, not inside an agent's pane" in lines
    assert "server=2" in lines
    # The CLI is a client of the API with the agent's own token: it lists, it may not kill.
    assert "kill=1" in lines and "env:Shell-developer (developer) cannot kill agents" in lines
    assert "list=0" in lines and "env:Shell-developer" in lines.split("kill=1")[1]
    assert Agent.objects.get(session_name="blog").state == "idle"
    assert not any(secret in lines for secret in service_secrets.values())
    assert not ApiToken.objects.filter(name="pwned").exists()
    assert not Message.objects.filter(agent__session_name="blog").exists()
