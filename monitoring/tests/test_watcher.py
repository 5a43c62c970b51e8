"""The watcher against real tmux: a change on screen becomes a state row without a sweep."""

import pytest

from agents import services
from agents.models import Agent, AgentEvent, AgentState, Message, MessageStatus, Signal
from agents.gateway import Gateway
from conftest import prompt_shown, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def state_of(agent: Agent) -> str:
    return Agent.objects.get(pk=agent.pk).state


def events_of(agent: Agent, after: int = 0) -> list[tuple[str, str]]:
    return list(AgentEvent.objects.filter(agent=agent, pk__gt=after).values_list("to_state", "signal"))


def last_event_id() -> int:
    return AgentEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_a_four_second_command_is_seen_working_then_idle(shell, gateway, watcher):
    start = last_event_id()

    gateway.type_text(shell.tmux_pane_id, "sleep 4; echo done")
    gateway.send_keys(shell.tmux_pane_id, "Enter")

    wait_for(lambda: state_of(shell) == AgentState.WORKING, timeout=3, message="the command seen working")
    wait_for(lambda: state_of(shell) == AgentState.IDLE, timeout=8, message="the prompt seen again")
    assert events_of(shell, start) == [(AgentState.WORKING, Signal.SCREEN), (AgentState.IDLE, Signal.SCREEN)]
    observation = Agent.objects.get(pk=shell.pk).observation
    assert observation["state"] == AgentState.IDLE and observation["lines"][-1].rstrip().endswith(("$", "#"))


def test_messages_waiting_for_a_busy_agent_go_in_as_it_becomes_idle(shell, gateway, watcher):
    gateway.type_text(shell.tmux_pane_id, "sleep 2; echo first-done")
    gateway.send_keys(shell.tmux_pane_id, "Enter")
    wait_for(lambda: state_of(shell) == AgentState.WORKING, timeout=3, message="the command seen working")
    start = last_event_id()

    second = services.message_send(agent=shell, body="echo second-done")

    assert Message.objects.get(pk=second.pk).status == MessageStatus.QUEUED  # busy: it waits
    # No sweep runs: the watcher sees the prompt come back and wakes the delivery.
    wait_for(lambda: Message.objects.get(pk=second.pk).status == MessageStatus.DELIVERED, timeout=8,
             message="the message, once the command ended")
    screen = gateway.capture_panes([shell.tmux_pane_id])[shell.tmux_pane_id]
    assert screen.index("first-done\n") < screen.index("second-done\n")
    delivered = Message.objects.get(pk=second.pk)
    idle = AgentEvent.objects.get(agent=shell, pk__gt=start, to_state=AgentState.IDLE, signal=Signal.SCREEN)
    assert delivered.typed_at >= idle.created_at
    # Delivery says itself that the agent took the text and works on it.
    assert (AgentState.WORKING, Signal.DELIVERY) in events_of(shell, idle.pk)


def test_an_agent_started_after_the_watcher_is_followed_too(project_dir, gateway, watcher, eager_jobs):
    operation = services.agent_spawn(session_name="later", agent_type="qa", project_path=project_dir, profile="shell")
    agent = Agent.objects.get(pk=operation.agent_id)
    wait_for(lambda: prompt_shown(gateway, agent), message="the shell prompt")

    wait_for(lambda: state_of(agent) == AgentState.IDLE, timeout=5, message="the new agent seen idle")


def test_a_pane_that_dies_without_a_word_is_still_caught_by_the_sweep(shell, gateway, watcher):
    import os
    import signal

    from django.conf import settings

    from monitoring.services import host_sweep

    os.kill(shell.pane_pid, signal.SIGKILL)
    wait_for(lambda: next(p for p in gateway.list_panes() if p.pane_id == shell.tmux_pane_id).dead,
             message="the pane to die")

    host_sweep(host=settings.TMUX_ORC.agent_host)

    assert AgentEvent.objects.filter(agent=shell, to_state=AgentState.CRASHED).exists()


def test_a_state_another_signal_set_is_checked_against_the_screen(shell, gateway, watcher):
    # Delivery said "working" for a command that was over before it said so: no output follows.
    Agent.objects.get(pk=shell.pk).set_state(AgentState.WORKING, "took message #9", signal=Signal.DELIVERY)

    wait_for(lambda: state_of(shell) == AgentState.IDLE, timeout=5, message="the screen's word, looked at again")
    assert events_of(shell)[-2:] == [(AgentState.WORKING, Signal.DELIVERY), (AgentState.IDLE, Signal.SCREEN)]


def test_the_watcher_records_its_own_cpu_use_for_the_dashboard(tmux_socket, monkeypatch):
    import time

    from monitoring import watcher as watching
    from monitoring.models import Heartbeat

    monkeypatch.setattr(watching, "COST_EVERY", 0.0)
    watcher = watching.Watcher(host="cost-host", gateway=Gateway(socket_name=tmux_socket))
    watcher.cost_since = (time.monotonic() - 10, time.thread_time())

    watcher._record_cost()
    watcher._record_cost()

    details = Heartbeat.objects.get(name="watcher:cost-host").details
    assert 0 <= details["cpu_percent"] <= 100 and len(details["recent_cpu_percent"]) == 2
