"""The agents API on real tmux: jobs run inline (the worker's code), on a private server."""

from pathlib import Path

import pytest

from agents.models import Agent, AgentOperation, AgentState, Message, MessageKind, MessageStatus
from conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ENVELOPE = {"success", "data", "error_message", "timestamp"}


def spawn(api, project_dir, **extra):
    payload = {"session_name": "my-project", "agent_type": "developer", "project_path": project_dir,
               "profile": "shell", **extra}
    return api.post("/agents/spawn", payload, format="json")


def pane_of(gateway, target):
    session, window = target.split(":")
    return next((p for p in gateway.list_panes() if (p.session_name, p.window_name) == (session, window)), None)


def test_spawn_starts_the_program_in_a_new_window(api, gateway, eager_jobs, project_dir, recorder_profile):
    response = spawn(api, project_dir, profile=recorder_profile, briefing_message="hello")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == ENVELOPE and body["success"] is True and body["error_message"] is None
    data = body["data"]
    assert data["session"] == "my-project"
    assert data["window"] == "Recorder-developer"
    assert data["target"] == "my-project:Recorder-developer"
    assert data["agent_type"] == "developer" and data["created_at"]
    pane = pane_of(gateway, data["target"])
    assert pane is not None and pane.pane_id == data["tmux_pane_id"] and not pane.dead
    screen = wait_for(lambda: "recorder ready" in gateway.capture_panes([pane.pane_id])[pane.pane_id], message="recorder")
    assert screen
    assert pane.current_command.startswith("python")  # exec'd: the pane runs the program, not a shell


def test_spawn_runs_in_the_project_path_and_names_the_session_exactly(api, gateway, eager_jobs, project_dir, recorder_profile):
    response = spawn(api, project_dir, profile=recorder_profile, session_name="team_a-1")
    assert response.status_code == 201
    gateway.type_text(response.json()["data"]["tmux_pane_id"], "x")
    wait_for(lambda: (Path(project_dir) / "received.bin").exists(), message="recorder file in the project path")
    assert "team_a-1" in {p.session_name for p in gateway.list_panes()}


def test_second_agent_of_the_same_type_gets_its_own_window(api, gateway, eager_jobs, project_dir):
    first = spawn(api, project_dir).json()["data"]
    second = spawn(api, project_dir).json()["data"]
    assert first["window"] == "Shell-developer" and second["window"] == "Shell-developer-2"
    assert first["tmux_session_id"] == second["tmux_session_id"]
    assert {first["tmux_pane_id"], second["tmux_pane_id"]} <= {p.pane_id for p in gateway.list_panes()}


def test_list_and_status(api, gateway, eager_jobs, project_dir):
    from django.conf import settings
    from monitoring.services import host_sweep

    data = spawn(api, project_dir).json()["data"]
    target, pane_id = data["target"], data["tmux_pane_id"]
    prompt = lambda: gateway.capture_panes([pane_id])[pane_id].rstrip().endswith(("$", "#"))  # noqa: E731
    wait_for(prompt, message="a prompt")
    host_sweep(host=settings.TMUX_ORC.agent_host)  # seen idle: its briefing goes in, if it has not yet
    wait_for(lambda: Message.objects.get(kind=MessageKind.BRIEFING).status == MessageStatus.DELIVERED,
             message="the briefing")
    wait_for(prompt, message="the prompt after the briefing")
    host_sweep(host=settings.TMUX_ORC.agent_host)

    listed = api.get("/agents/list").json()
    assert [a["target"] for a in listed["data"]] == [target]
    status = api.get("/agents/status", {"target": target, "include_activity": "true"}).json()["data"]
    assert status["target"] == target and status["state"] == "idle" and status["responsive"] is True
    assert status["activity_summary"][-1].endswith("-> idle: seen on screen: a bare prompt on the last line")
    assert status["health_score"] == 100 and status["idle_minutes"] == 0 and status["uptime_minutes"] == 0


def test_restart_brings_the_program_back_in_the_same_window(api, gateway, eager_jobs, project_dir):
    data = spawn(api, project_dir).json()["data"]
    before = pane_of(gateway, data["target"])

    response = api.post("/agents/restart", {"target": data["target"]}, format="json")

    assert response.status_code == 200, response.json()
    after = pane_of(gateway, data["target"])
    assert after.pane_id == before.pane_id and after.window_id == before.window_id
    assert after.pid != before.pid
    assert response.json()["data"]["restart_count"] == 1


def test_restart_after_the_window_was_killed_behind_our_back(api, gateway, eager_jobs, project_dir):
    data = spawn(api, project_dir).json()["data"]
    gateway.kill_window(data["tmux_window_id"])

    response = api.post("/agents/restart", {"target": data["target"]}, format="json")

    assert response.status_code == 200, response.json()
    assert pane_of(gateway, data["target"]) is not None


def test_kill_removes_the_window_and_stops_the_agent(api, gateway, eager_jobs, project_dir):
    data = spawn(api, project_dir).json()["data"]

    response = api.post("/agents/kill", {"target": data["target"]}, format="json")

    assert response.status_code == 200
    assert response.json()["data"]["state"] == "stopped"
    assert pane_of(gateway, data["target"]) is None
    assert api.get("/agents/list").json()["data"] == []
    again = api.post("/agents/kill", {"target": data["target"]}, format="json")
    assert again.status_code == 409 and "already stopped" in again.json()["error_message"]


def test_a_missing_program_fails_the_spawn_with_its_reason(api, gateway, eager_jobs, project_dir, settings, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "profiles", {"ghost": {"command": "no-such-agent-program --x"}})

    response = spawn(api, project_dir, profile="ghost")

    assert response.status_code == 422
    body = response.json()
    assert body["success"] is False and "'no-such-agent-program'" in body["error_message"]
    assert body["data"]["state"] == "crashed"
    assert gateway.list_panes() == []


@pytest.mark.parametrize(
    "change, field",
    [
        ({"agent_type": "wizard"}, "agent_type"),
        ({"project_path": "/definitely/not/here"}, "project_path"),
        ({"project_path": "relative/path"}, "project_path"),
        ({"session_name": "a:b"}, "session_name"),
        ({"session_name": "a.b"}, "session_name"),
        ({"session_name": "#(touch /tmp/x)"}, "session_name"),
        ({"session_name": "-flag"}, "session_name"),
        ({"session_name": ""}, "session_name"),
        ({"session_name": "s" * 65}, "session_name"),
        ({"session_name": 42}, "session_name"),
        ({"agent_type": ["developer"]}, "agent_type"),
        ({"briefing_message": "x" * 100_001}, "briefing_message"),
        ({"profile": "nope"}, "profile"),
        ({"name": "a b"}, "name"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_spawn_input_is_refused_and_touches_nothing(api, gateway, eager_jobs, project_dir, change, field):
    response = spawn(api, project_dir, **change)

    assert response.status_code == 400, response.json()
    body = response.json()
    assert set(body) == ENVELOPE and body["success"] is False and body["data"] is None
    assert field in body["error_message"]
    assert Agent.objects.count() == 0 and AgentOperation.objects.count() == 0
    assert gateway.list_panes() == []


def test_missing_fields_and_non_object_bodies_are_refused(api):
    assert "session_name" in api.post("/agents/spawn", {}, format="json").json()["error_message"]
    not_object = api.post("/agents/spawn", ["x"], format="json")
    assert not_object.status_code == 400 and not_object.json()["success"] is False
    broken = api.post("/agents/spawn", "{not json", content_type="application/json")
    assert broken.status_code == 400 and "JSON" in broken.json()["error_message"]


@pytest.mark.parametrize("target", ["nocolon", "a:b:c", ":w", "s:", "s:#(id)", "s.1:w"])
def test_bad_targets_are_refused(api, target):
    for method, path in [("get", "/agents/status"), ("post", "/agents/restart"), ("post", "/agents/kill")]:
        response = api.get(path, {"target": target}) if method == "get" else api.post(path, {"target": target}, format="json")
        assert response.status_code == 400, (path, response.json())
        assert "target" in response.json()["error_message"]


def test_unknown_target_is_404(api):
    response = api.get("/agents/status", {"target": "nobody:here"})
    assert response.status_code == 404
    assert response.json()["error_message"] == "no agent at nobody:here"


@pytest.fixture
def no_recovery(monkeypatch):
    from django.conf import settings

    monkeypatch.setattr(settings.TMUX_ORC, "recovery_enabled", False)


def test_a_window_killed_behind_the_service_shows_as_crashed(api, gateway, eager_jobs, project_dir, no_recovery):
    from monitoring.services import host_sweep
    from django.conf import settings

    data = spawn(api, project_dir).json()["data"]
    gateway.kill_window(data["tmux_window_id"])
    spawn(api, project_dir, session_name="other")  # keep the server alive

    host_sweep(host=settings.TMUX_ORC.agent_host)

    status = api.get("/agents/status", {"target": data["target"]}).json()["data"]
    assert status["state"] == AgentState.CRASHED and status["state_reason"] == "the window is gone"


def test_a_tmux_server_that_stopped_shows_in_the_state(api, gateway, eager_jobs, project_dir, no_recovery):
    from monitoring.services import host_sweep
    from django.conf import settings

    data = spawn(api, project_dir).json()["data"]
    gateway.kill_server()

    host_sweep(host=settings.TMUX_ORC.agent_host)

    status = api.get("/agents/status", {"target": data["target"]}).json()["data"]
    assert status["state"] == "crashed" and status["state_reason"] == "the tmux server is not running"


def test_program_exit_is_seen_and_the_window_stays(api, gateway, eager_jobs, project_dir, no_recovery):
    from monitoring.services import host_sweep
    from django.conf import settings

    data = spawn(api, project_dir).json()["data"]
    pane_id = data["tmux_pane_id"]
    wait_for(lambda: gateway.capture_panes([pane_id])[pane_id].rstrip().endswith(("$", "#")), message="a prompt")
    gateway.type_text(data["tmux_pane_id"], "exit 7")
    gateway.send_keys(data["tmux_pane_id"], "Enter")
    wait_for(lambda: pane_of(gateway, data["target"]).dead, message="the pane to die",
             describe=lambda: f"{pane_of(gateway, data['target'])} {gateway.capture_panes([pane_id])}")
    # tmux marks the pane dead when its terminal closes; the exit status can come later
    # (under load, it has been seen to take over 10 s), so both reasons are true.
    known_status = pane_of(gateway, data["target"]).dead_status is not None

    host_sweep(host=settings.TMUX_ORC.agent_host)

    status = api.get("/agents/status", {"target": data["target"]}).json()["data"]
    assert status["state"] == "crashed"
    assert status["state_reason"] in {"the program exited with status 7", "the program exited"}
    assert known_status <= (status["state_reason"] == "the program exited with status 7")
    assert pane_of(gateway, data["target"]) is not None  # remain-on-exit: the window stays
