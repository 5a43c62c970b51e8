"""Lifecycle services: what is written, and the worker's side run against real tmux."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from agents import services
from agents.gateway import WindowSpec, shell_command
from agents.models import Agent, AgentOperation, AgentState, OperationStatus
from orchestrator.errors import Busy, Conflict, InvalidInput

pytestmark = pytest.mark.django_db


def spawn(project_dir, **extra):
    arguments = {"session_name": "svc", "agent_type": "developer", "project_path": project_dir, "profile": "shell"}
    return services.agent_spawn(**{**arguments, **extra})


def windows(gateway):
    return [(p.session_name, p.window_name) for p in gateway.list_panes()]


def test_spawn_writes_the_agent_and_a_pending_operation_first(project_dir, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        operation = spawn(project_dir)

    agent = operation.agent
    assert agent.state == AgentState.STARTING and agent.host == settings.TMUX_ORC.agent_host
    assert operation.status == OperationStatus.PENDING and operation.kind == "spawn"
    assert len(callbacks) == 1  # the job is enqueued only once the rows are committed


def test_custom_type_from_config_can_be_spawned_with_its_briefing(project_dir, monkeypatch):
    custom = {"data_engineer": {"briefing": "ETL pipelines", "required_tools": ["pandas"], "default_timeout": 5}}
    monkeypatch.setattr(settings.TMUX_ORC, "custom_types", custom)

    agent = spawn(project_dir, agent_type="data_engineer").agent

    assert agent.name == "Shell-data_engineer"
    assert agent.briefing == "ETL pipelines\nTools you are expected to use: pandas."


def test_a_given_briefing_wins_over_the_default(project_dir):
    assert spawn(project_dir, briefing="Build the login page").agent.briefing == "Build the login page"


def test_the_same_name_twice_is_a_conflict(project_dir):
    spawn(project_dir, name="alpha")
    with pytest.raises(Conflict, match="svc:alpha"):
        spawn(project_dir, name="alpha")


def test_spawns_beyond_the_limit_are_refused(project_dir, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "max_concurrent_spawns", 1)
    spawn(project_dir)
    with pytest.raises(Busy, match="limit 1"):
        spawn(project_dir)
    assert Agent.objects.count() == 1


def test_a_missing_project_path_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(InvalidInput, match="project_path"):
        spawn(str(tmp_path / "gone"))
    assert not Agent.objects.exists()


def test_running_an_operation_twice_acts_once(project_dir, gateway):
    operation = spawn(project_dir)

    services.operation_run(operation_id=operation.pk)
    services.operation_run(operation_id=operation.pk)

    assert windows(gateway) == [("svc", "Shell-developer")]
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED


def test_a_spawn_taken_over_from_a_dead_worker_adopts_the_window_it_made(project_dir, gateway):
    operation = spawn(project_dir)
    agent = operation.agent
    # The first worker claimed the job, created the window, and died before recording it.
    gateway.create_window(WindowSpec("svc", agent.name, shell_command(["bash", "--norc"]), project_dir))
    AgentOperation.objects.filter(pk=operation.pk).update(
        status=OperationStatus.RUNNING, started_at=timezone.now() - timedelta(hours=1)
    )

    services.operation_run(operation_id=operation.pk)

    assert windows(gateway) == [("svc", agent.name)]
    agent.refresh_from_db()
    assert agent.tmux_pane_id == gateway.list_panes()[0].pane_id


def test_an_operation_no_worker_took_in_time_expires(project_dir, gateway, monkeypatch):
    operation = spawn(project_dir)
    AgentOperation.objects.filter(pk=operation.pk).update(created_at=timezone.now() - timedelta(hours=2))

    services.operation_run(operation_id=operation.pk)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.FAILED and operation.error.startswith("expired")
    assert gateway.list_panes() == []
    assert Agent.objects.get().state == AgentState.CRASHED


def test_an_operation_for_another_host_is_refused(project_dir, gateway):
    operation = spawn(project_dir)
    Agent.objects.filter(pk=operation.agent_id).update(host="elsewhere")

    services.operation_run(operation_id=operation.pk)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.FAILED and "not elsewhere" in operation.error
    assert gateway.list_panes() == []


def test_kill_cancels_a_spawn_that_has_not_started(project_dir, gateway):
    spawn_operation = spawn(project_dir)

    kill = services.agent_kill(agent=spawn_operation.agent)
    services.operation_run(operation_id=spawn_operation.pk)
    services.operation_run(operation_id=kill.pk)

    spawn_operation.refresh_from_db()
    assert spawn_operation.status == OperationStatus.CANCELLED
    assert gateway.list_panes() == []
    assert Agent.objects.get().state == AgentState.STOPPED


def test_restarting_a_stopped_agent_is_refused(project_dir):
    agent = spawn(project_dir).agent
    agent.set_state(AgentState.STOPPED, "killed")
    with pytest.raises(Conflict, match="was killed"):
        services.agent_restart(agent=agent)


def test_messages_waiting_past_the_expiry_are_marked_expired(project_dir):
    from agents.models import Message, MessageStatus

    agent = spawn(project_dir).agent
    old = Message.objects.create(agent=agent, body="old")
    fresh = Message.objects.create(agent=agent, body="fresh")
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=3))

    assert services.message_expire_stale() == 1

    assert Message.objects.get(pk=old.pk).status == MessageStatus.EXPIRED
    assert Message.objects.get(pk=fresh.pk).status == MessageStatus.QUEUED


def test_a_second_restart_asked_before_the_first_ran_is_the_same_restart(project_dir, gateway):
    agent = spawn(project_dir).agent
    services.operation_run(operation_id=agent.operations.get().pk)

    first = services.agent_restart(agent=agent, requested_by="recovery")
    second = services.agent_restart(agent=agent, requested_by="alice")

    assert first.pk == second.pk
    assert agent.operations.filter(kind="restart").count() == 1
