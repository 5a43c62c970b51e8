"""Recovery on real tmux: crashed agents come back by themselves, within limits."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from agents.models import Agent, AgentEvent, AgentOperation, AgentState, MessageKind, MessageStatus
from conftest import prompt_shown, wait_for
from monitoring.recovery import backoff, recover_crashed
from monitoring.services import host_sweep

pytestmark = pytest.mark.django_db(transaction=True)


def sweep():
    host_sweep(host=settings.TMUX_ORC.agent_host)


def crash(gateway, agent, status=3):
    pane = agent.tmux_pane_id
    gateway.type_text(pane, f"exit {status}")
    gateway.send_keys(pane, "Enter")
    wait_for(lambda: next(p for p in gateway.list_panes() if p.pane_id == pane).dead, message="the program to exit")


def fresh(agent) -> Agent:
    return Agent.objects.get(pk=agent.pk)


def test_a_crashed_agent_is_seen_and_restarted_with_its_briefing(shell, gateway):
    crash(gateway, shell)

    sweep()

    agent = fresh(shell)
    transitions = [(e.from_state, e.to_state) for e in AgentEvent.objects.filter(agent=agent)]
    crashed_at = transitions.index((AgentState.IDLE, AgentState.CRASHED))
    # Restarted; with jobs inline here, the briefing goes in at once and the agent works on it.
    assert transitions[crashed_at + 1:] in ([(AgentState.CRASHED, AgentState.STARTING)],
                                            [(AgentState.CRASHED, AgentState.STARTING),
                                             (AgentState.STARTING, AgentState.WORKING)])
    assert agent.restart_count == 1 and agent.recovery_attempts == 1
    assert AgentOperation.objects.filter(agent=agent, kind="restart", requested_by="recovery").count() == 1
    pane = next(p for p in gateway.list_panes() if p.pane_id == agent.tmux_pane_id)
    assert not pane.dead
    wait_for(lambda: prompt_shown(gateway, agent), message="the shell to be back")
    sweep()
    briefings = agent.messages.filter(kind=MessageKind.BRIEFING).order_by("created_at")
    assert [b.status for b in briefings] == ["delivered", "delivered"]  # briefed again after the restart


def test_restarts_back_off_exponentially(monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "restart_backoff", 5.0)
    assert [backoff(n).total_seconds() for n in range(1, 6)] == [0, 5, 10, 20, 40]
    assert backoff(30) == timedelta(minutes=5)


def test_a_second_crash_waits_for_its_backoff(shell, gateway, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "restart_backoff", 60.0)
    crash(gateway, shell)
    sweep()  # first restart: at once
    wait_for(lambda: prompt_shown(gateway, fresh(shell)), message="the shell to be back")
    crash(gateway, fresh(shell))

    sweep()

    agent = fresh(shell)
    assert agent.state == AgentState.CRASHED and agent.recovery_attempts == 1
    assert agent.next_recovery_at is not None
    assert 55 <= (agent.next_recovery_at - agent.state_changed_at).total_seconds() <= 60
    Agent.objects.filter(pk=agent.pk).update(state_changed_at=timezone.now() - timedelta(seconds=61))
    sweep()
    restarts = AgentEvent.objects.filter(agent=agent, from_state=AgentState.CRASHED, to_state=AgentState.STARTING)
    assert fresh(shell).recovery_attempts == 2 and restarts.count() == 2


def test_after_the_last_allowed_restart_the_agent_is_failed(shell, gateway, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "max_restarts", 2)
    Agent.objects.filter(pk=shell.pk).update(recovery_attempts=2)
    crash(gateway, fresh(shell))

    sweep()
    sweep()

    agent = fresh(shell)
    assert agent.state == AgentState.FAILED
    assert agent.state_reason.startswith("recovery gave up after 2 restarts")
    assert not AgentOperation.objects.filter(agent=agent, requested_by="recovery").exists()


def test_two_sweeps_at_once_restart_an_agent_once(shell, gateway, monkeypatch):
    crash(gateway, shell)
    monkeypatch.setattr(settings.TMUX_ORC, "recovery_enabled", False)
    sweep()  # the crash is seen; nothing restarts it yet
    monkeypatch.setattr(settings.TMUX_ORC, "recovery_enabled", True)
    seen_by_first, seen_by_second = fresh(shell), fresh(shell)

    recover_crashed(agents=[seen_by_first])
    recover_crashed(agents=[seen_by_second])

    assert AgentOperation.objects.filter(agent=shell, kind="restart").count() == 1


def test_a_person_restarting_gives_recovery_a_fresh_start(shell):
    from agents import services

    Agent.objects.filter(pk=shell.pk).update(recovery_attempts=4)
    services.agent_restart(agent=fresh(shell), requested_by="cli")
    assert fresh(shell).recovery_attempts == 0


def test_recovery_can_be_turned_off(shell, gateway, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "recovery_enabled", False)
    crash(gateway, shell)
    sweep()
    assert fresh(shell).state == AgentState.CRASHED
    assert not AgentOperation.objects.filter(agent=shell, kind="restart").exists()


def test_an_agent_working_without_output_too_long_is_flagged_stuck(shell, gateway, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "stuck_after", 1.0)
    gateway.type_text(shell.tmux_pane_id, "sleep 30")
    gateway.send_keys(shell.tmux_pane_id, "Enter")
    wait_for(lambda: not prompt_shown(gateway, shell), message="the command to start")

    def stuck():
        sweep()
        return fresh(shell).state == AgentState.STUCK

    wait_for(stuck, timeout=15, message="the stuck state")
    assert "has not changed for" in fresh(shell).state_reason


def test_health_score_counts_the_crashes_of_the_last_day(shell, gateway, api):
    crash(gateway, shell)
    sweep()
    wait_for(lambda: prompt_shown(gateway, fresh(shell)), message="the shell to be back")

    def briefed_and_idle() -> bool:  # the briefing goes in again once it is seen idle
        sweep()
        agent = fresh(shell)
        return agent.state == "idle" and prompt_shown(gateway, agent) and not agent.messages.exclude(
            status=MessageStatus.DELIVERED).exists()

    wait_for(briefed_and_idle, message="the shell back, briefed again and idle")
    status = api.get("/agents/status", {"target": shell.target, "include_activity": "true"}).json()["data"]

    assert status["state"] == "idle" and status["health_score"] == 90
    assert any("idle -> crashed: the program exited" in line for line in status["activity_summary"])


def test_a_restarted_agent_is_briefed_again_with_its_open_task(shell, gateway):
    from tasks.services import task_create, task_set_status

    task = task_create(title="Fix the login form", description="It rejects valid emails.", assigned_to=shell)
    task_set_status(task=task, status="in_progress", by="test")
    crash(gateway, fresh(shell))

    sweep()

    briefing = fresh(shell).messages.filter(kind=MessageKind.BRIEFING).latest("created_at")
    assert briefing.body.startswith("# hello from the briefing")
    assert "You were working on this before the restart:" in briefing.body
    assert f"Task #{task.pk} (medium priority): Fix the login form" in briefing.body
    assert "It rejects valid emails." in briefing.body
    wait_for(lambda: prompt_shown(gateway, fresh(shell)), message="the shell to be back")
    sweep()
    wait_for(lambda: Agent.objects.get(pk=shell.pk).messages.get(pk=briefing.pk).status == "delivered",
             message="the briefing with the task delivered")
