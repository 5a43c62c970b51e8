"""The health sweep against real tmux."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from agents import services
from agents.models import Agent, AgentEvent, AgentOperation, AgentState, OperationStatus, StateSeen, agents_set_states
from conftest import wait_for
from monitoring.services import host_sweep

pytestmark = pytest.mark.django_db


def spawned(project_dir, **extra):
    operation = services.agent_spawn(session_name="sweep", agent_type="developer", project_path=project_dir,
                                     profile="shell", **extra)
    services.operation_run(operation_id=operation.pk)
    return Agent.objects.get(pk=operation.agent_id)


def test_a_live_shell_is_seen_idle_at_its_prompt(project_dir, gateway):
    agent = spawned(project_dir)
    pane = agent.tmux_pane_id
    wait_for(lambda: gateway.capture_panes([pane])[pane].rstrip().endswith(("$", "#")), message="a prompt")

    changed = host_sweep(host=settings.TMUX_ORC.agent_host)

    agent.refresh_from_db()
    assert changed == 1 and agent.state == AgentState.IDLE and agent.last_activity_at is not None
    assert host_sweep(host=settings.TMUX_ORC.agent_host) == 0  # nothing new, nothing written


def test_a_sweep_does_not_undo_a_kill_made_after_it_looked(project_dir, gateway):
    killed, other = spawned(project_dir, name="killed"), spawned(project_dir, name="other")
    seen_by_sweep = list(Agent.objects.filter(pk__in=[killed.pk, other.pk]))
    kill = services.agent_kill(agent=killed)
    services.operation_run(operation_id=kill.pk)

    moved = agents_set_states([StateSeen(agent, AgentState.CRASHED, "the window is gone") for agent in seen_by_sweep])

    assert moved == 1
    assert Agent.objects.get(pk=killed.pk).state == AgentState.STOPPED
    assert Agent.objects.get(pk=other.pk).state == AgentState.CRASHED
    assert list(AgentEvent.objects.filter(to_state=AgentState.CRASHED).values_list("agent_id", flat=True)) == [other.pk]


def test_the_schedule_is_written_once_and_follows_the_configured_interval(monkeypatch):
    from django_celery_beat.models import PeriodicTask

    from monitoring.services import schedule_ensure

    monkeypatch.setattr(settings.TMUX_ORC, "health_check_interval", 5.0)
    schedule_ensure()
    PeriodicTask.objects.filter(task="monitoring.sweep_hosts").update(enabled=False)  # paused in the admin
    monkeypatch.setattr(settings.TMUX_ORC, "health_check_interval", 7.0)
    schedule_ensure()

    sweep = PeriodicTask.objects.get(task="monitoring.sweep_hosts")
    assert sorted(PeriodicTask.objects.exclude(name="celery.backend_cleanup").values_list("task", flat=True)) == [
        "monitoring.expire_messages", "monitoring.release_messages", "monitoring.resume_alerts",
        "monitoring.sweep_hosts", "tasks.resume_checks",
        "teams.finish_standups"]
    assert sweep.interval.every == 7 and sweep.expire_seconds == 5 and sweep.enabled is False


def test_a_periodic_job_expires_a_little_before_its_next_run(monkeypatch):
    from django_celery_beat.models import PeriodicTask

    from monitoring.services import periodic_expiry, schedule_ensure

    assert all(0.5 * period <= periodic_expiry(period) < period for period in (0.5, 2, 5, 10, 60, 3600))
    monkeypatch.setattr(settings.TMUX_ORC, "health_check_interval", 5.0)
    schedule_ensure()
    written = PeriodicTask.objects.exclude(name="celery.backend_cleanup").select_related("interval")
    assert written and all(job.expire_seconds < job.interval.every for job in written)


def test_each_host_sweep_expires_before_the_next_fan_out(monkeypatch):
    from monitoring import jobs

    sent = []
    monkeypatch.setattr(jobs.sweep_host, "apply_async", lambda **kwargs: sent.append(kwargs))
    monkeypatch.setattr(jobs.services, "hosts_to_sweep", lambda: ["h1"])

    jobs.sweep_hosts()

    assert [call["args"] for call in sent] == [["h1"]]
    assert 0 < sent[0]["expires"] < settings.TMUX_ORC.health_check_interval


def test_two_beats_in_one_interval_sweep_once(monkeypatch):
    from monitoring import jobs

    sent = []
    monkeypatch.setattr(jobs.sweep_host, "apply_async", lambda **kwargs: sent.append(kwargs))
    monkeypatch.setattr(jobs.services, "hosts_to_sweep", lambda: ["h1"])

    jobs.sweep_hosts()
    jobs.sweep_hosts()  # a second beat, a moment later

    assert [call["args"] for call in sent] == [["h1"]]


def test_a_spawn_whose_job_was_lost_is_carried_out_by_a_later_sweep(project_dir, gateway, eager_jobs,
                                                                   django_capture_on_commit_callbacks):
    # In this test's transaction the job is never sent, as if a killed worker had taken it with it.
    operation = services.agent_spawn(session_name="lost", agent_type="developer", project_path=project_dir,
                                     profile="shell")
    host_sweep(host=settings.TMUX_ORC.agent_host)
    assert AgentOperation.objects.get(pk=operation.pk).status == OperationStatus.PENDING  # not yet: it may be queued
    AgentOperation.objects.filter(pk=operation.pk).update(created_at=timezone.now() - timedelta(seconds=60))

    with django_capture_on_commit_callbacks(execute=True):  # the sweep's job goes once it commits
        host_sweep(host=settings.TMUX_ORC.agent_host)

    assert AgentOperation.objects.get(pk=operation.pk).status == OperationStatus.SUCCEEDED
    agent = Agent.objects.get(pk=operation.agent_id)
    assert agent.tmux_pane_id in {pane.pane_id for pane in gateway.list_panes()}
