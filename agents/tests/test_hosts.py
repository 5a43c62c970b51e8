"""Choosing an agent's host: a named host whose worker is alive, or `auto`; the hosts as the
API and the CLI show them. No worker runs here: hosts are made live the way their workers
do it (agents.hosts.host_seen), and down by letting that age. tests/test_two_hosts.py runs
two real workers."""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from agents.hosts import host_seen, stale_after
from agents.models import Agent, AgentOperation, AgentState, Host

pytestmark = pytest.mark.django_db


@pytest.fixture
def hosts(monkeypatch):
    """Two more live hosts, a and b; the tests' own host is left out of auto's reach. No
    worker runs here: a spawn is answered once it is asked for, not started."""
    monkeypatch.setattr(settings.TMUX_ORC, "default_timeout", 0.1)
    Host.objects.filter(name=settings.TMUX_ORC.agent_host).update(worker_seen_at=timezone.now() - timedelta(days=2))
    host_seen("a")
    host_seen("b")
    return ["a", "b"]


def go_down(name: str) -> None:
    Host.objects.filter(name=name).update(worker_seen_at=timezone.now() - stale_after() - timedelta(seconds=1))


def spawn(api, project_dir, **extra):
    payload = {"session_name": "proj", "agent_type": "developer", "project_path": project_dir, "profile": "shell",
               **extra}
    return api.post("/agents/spawn", payload, format="json")


def test_a_spawn_goes_to_the_host_named_and_to_its_queue(api, project_dir, hosts, monkeypatch,
                                                          django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("agents.enqueue.enqueue", lambda name, args, queue, expires: queued.append((name, queue)))
    with django_capture_on_commit_callbacks(execute=True):
        response = spawn(api, project_dir, host="b")

    assert response.status_code == 202, response.json()  # no worker here to start it
    assert response.json()["data"]["host"] == "b" and Agent.objects.get().host == "b"
    assert queued == [("agents.run_operation", "host.b")]


def test_auto_picks_the_live_host_with_the_fewest_agents(api, project_dir, hosts):
    Agent.objects.create(name="w1", session_name="other", agent_type="developer", profile="shell",
                         project_path=project_dir, host="a", state=AgentState.IDLE)
    first = spawn(api, project_dir, host="auto", name="one").json()["data"]
    second = spawn(api, project_dir, host="auto", name="two").json()["data"]
    third = spawn(api, project_dir, host="auto", name="three").json()["data"]

    assert [first["host"], second["host"], third["host"]] == ["b", "a", "b"]  # fewest first, ties by name


def test_the_default_host_comes_from_config(api, project_dir, hosts, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "default_host", "a")
    assert spawn(api, project_dir).json()["data"]["host"] == "a"
    monkeypatch.setattr(settings.TMUX_ORC, "default_host", "auto")
    assert spawn(api, project_dir, name="next").json()["data"]["host"] == "b"


def test_a_host_whose_worker_is_not_alive_is_refused_naming_the_live_ones(api, project_dir, hosts):
    go_down("b")
    response = spawn(api, project_dir, host="b")

    assert response.status_code == 409
    assert response.json()["error_message"] == "host: the worker of host b is not alive; live hosts: a"
    assert not Agent.objects.exists() and not AgentOperation.objects.exists()
    unknown = spawn(api, project_dir, host="nowhere")
    assert unknown.status_code == 409 and "host nowhere is not alive; live hosts: a" in unknown.json()["error_message"]


def test_with_no_live_host_auto_says_so(api, project_dir, hosts):
    go_down("a")
    go_down("b")
    response = spawn(api, project_dir, host="auto")

    assert response.status_code == 409
    assert "no host's worker is alive (start one: tmux-orc server start)" in response.json()["error_message"]
    assert not Agent.objects.exists()


@pytest.mark.parametrize("bad", ["a b", "x;y", "../up", "", "h" * 65, 42])
def test_a_host_that_is_not_a_name_is_refused(api, project_dir, bad):
    response = spawn(api, project_dir, host=bad)

    assert response.status_code == 400, response.json()
    assert "host" in response.json()["error_message"]
    assert not Agent.objects.exists()


def test_a_team_deploy_spreads_over_the_live_hosts_with_auto(api, project_dir, hosts):
    response = api.post("/coordination/deploy-team", {"project_name": "shop", "project_path": project_dir,
                                                       "team_type": "backend", "size": 4, "profile": "shell",
                                                       "host": "auto"}, format="json")

    assert response.status_code in (201, 422), response.json()  # no worker here: nothing starts
    placed = sorted(Agent.objects.values_list("host", flat=True))
    assert placed == ["a", "a", "b", "b"]


def test_a_team_member_may_name_its_own_host(api, project_dir, hosts):
    members = [{"role": "pm", "profile": "shell", "host": "a"}, {"role": "developer", "profile": "shell"}]
    api.post("/coordination/deploy-team", {"project_name": "shop", "project_path": project_dir,
                                           "team_members": members, "host": "b"}, format="json")

    assert dict(Agent.objects.values_list("agent_type", "host")) == {"pm": "a", "developer": "b"}


def test_a_team_with_a_member_on_a_host_that_is_down_is_refused_and_nothing_is_written(api, project_dir, hosts):
    go_down("b")
    members = [{"role": "pm", "profile": "shell", "host": "a"}, {"role": "developer", "profile": "shell", "host": "b"}]
    response = api.post("/coordination/deploy-team", {"project_name": "shop", "project_path": project_dir,
                                                      "team_members": members}, format="json")

    assert response.status_code == 409
    assert "host b is not alive; live hosts: a" in response.json()["error_message"]
    assert not Agent.objects.exists()
    assert not api.get("/teams/list").json()["data"]


def test_a_template_member_keeps_the_host_config_gives_it(api, project_dir, hosts, monkeypatch):
    templates = {"split": {"description": "two hosts", "members": [{"role": "pm", "host": "a"}, {"role": "qa"}]}}
    monkeypatch.setattr(settings.TMUX_ORC, "team_templates", templates)
    api.post("/coordination/deploy-team", {"project_name": "shop", "project_path": project_dir, "team_type": "split",
                                           "size": 2, "profile": "shell", "host": "b"}, format="json")

    assert dict(Agent.objects.values_list("agent_type", "host")) == {"pm": "a", "qa": "b"}


def test_monitor_hosts_lists_each_host_with_its_worker_and_agents(api, project_dir, hosts):
    Agent.objects.create(name="w1", session_name="s", agent_type="developer", profile="shell",
                         project_path=project_dir, host="a", state=AgentState.IDLE)
    Agent.objects.create(name="w2", session_name="s", agent_type="qa", profile="shell",
                         project_path=project_dir, host="a", state=AgentState.WORKING)
    Agent.objects.create(name="w3", session_name="s", agent_type="qa", profile="shell",
                         project_path=project_dir, host="gone", state=AgentState.IDLE)
    go_down("b")

    rows = {row["host"]: row for row in api.get("/monitor/hosts").json()["data"]}

    assert rows["a"]["worker_alive"] is True and rows["a"]["agents"] == 2
    assert rows["a"]["agents_by_state"]["idle"] == 1 and rows["a"]["agents_by_state"]["working"] == 1
    assert rows["a"]["load"]["cpus"] >= 1 and rows["a"]["load"]["load_1m"] is not None
    assert rows["b"]["worker_alive"] is False and rows["b"]["last_heartbeat"] and rows["b"]["agents"] == 0
    assert rows["gone"]["worker_alive"] is False and rows["gone"]["last_heartbeat"] is None
    health = api.get("/monitor/health").json()["data"]
    assert health["agent_hosts"]["a"]["worker_alive"] is True and health["agent_hosts"]["b"]["worker_alive"] is False
    status = api.get("/monitor/status").json()["data"]
    assert status["hosts"] == {"a": 2, "gone": 1} and status["hosts_down"] == ["gone"]


def test_an_agent_on_a_host_that_is_down_says_so_and_keeps_its_state(api, project_dir, hosts):
    Agent.objects.create(name="w1", session_name="s", agent_type="developer", profile="shell",
                         project_path=project_dir, host="b", state=AgentState.IDLE)
    go_down("b")

    listed = api.get("/agents/list").json()["data"][0]
    status = api.get("/agents/status", {"target": "s:w1"}).json()["data"]

    assert listed["host_down"] is True and listed["state"] == "idle"
    assert status["host_down"] is True and status["host"] == "b" and status["state"] == "idle"
    host_seen("b")
    assert api.get("/agents/list").json()["data"][0]["host_down"] is False


def test_health_can_run_only_the_checks_named(api):
    only = api.get("/monitor/health", {"checks": "database,broker"}).json()["data"]
    assert only["checks_performed"] == ["database", "broker"] and set(only["checks"]) == {"database", "broker"}
    bad = api.get("/monitor/health", {"checks": "database,disk"})
    assert bad.status_code == 400 and "unknown check disk; known: database, broker, beat, workers" in bad.json()[
        "error_message"]


@pytest.mark.usefixtures("cli_api")
def test_tmux_orc_monitor_hosts_shows_the_table(hosts, capsys):
    go_down("b")
    call_command("monitor", "hosts")
    out = capsys.readouterr().out.splitlines()

    assert out[0].split() == ["HOST", "WORKER", "LAST_HEARTBEAT", "AGENTS", "BY_STATE", "LOAD", "CPUS"]
    a = next(line for line in out if line.startswith("a "))
    b = next(line for line in out if line.startswith("b "))
    assert " alive " in a and " DOWN " in b
    call_command("monitor", "hosts", "--json")
    assert {row["host"] for row in json.loads(capsys.readouterr().out)} >= {"a", "b"}


def test_a_project_path_on_another_host_is_checked_there_not_here(api, project_dir, hosts, tmp_path):
    elsewhere = str(tmp_path / "only-on-host-b")
    accepted = spawn(api, elsewhere, host="b")
    assert accepted.status_code == 202, accepted.json()  # its worker says whether it exists, when it starts it
    assert Agent.objects.get().project_path == elsewhere
    host_seen(settings.TMUX_ORC.agent_host)
    here = spawn(api, elsewhere, host=settings.TMUX_ORC.agent_host, name="here")
    assert here.status_code == 400 and "does not exist or is not a directory" in here.json()["error_message"]
