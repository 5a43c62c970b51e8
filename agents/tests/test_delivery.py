"""Message delivery on real tmux, to a shell agent: verified, in order, at most once."""

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from agents import delivery, services
from agents.models import Message, MessageKind, MessageStatus
from conftest import prompt_shown, wait_for
from monitoring.services import host_sweep

pytestmark = pytest.mark.django_db(transaction=True)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_message_to_an_idle_agent_is_typed_submitted_and_verified(shell, project_dir):
    message = services.message_send(agent=shell, body="echo delivered >> proof.txt", sender="test")

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert message.typed_at and message.submitted_at and message.delivered_at and message.submit_presses == 1
    wait_for(lambda: lines(Path(project_dir) / "proof.txt"), message="the command to run")
    assert lines(Path(project_dir) / "proof.txt") == ["delivered"]


def test_the_briefing_is_the_first_message_and_is_delivered_once(shell, gateway):
    briefings = shell.messages.filter(kind=MessageKind.BRIEFING)
    assert briefings.count() == 1 and briefings.get().status == MessageStatus.DELIVERED
    host_sweep(host=settings.TMUX_ORC.agent_host)
    screen = gateway.capture_panes([shell.tmux_pane_id], history=100)[shell.tmux_pane_id]
    assert screen.count("# hello from the briefing") == 1


def test_messages_to_a_busy_agent_wait_and_arrive_in_order(shell, gateway, project_dir):
    gateway.type_text(shell.tmux_pane_id, "sleep 1.5")
    gateway.send_keys(shell.tmux_pane_id, "Enter")
    wait_for(lambda: not prompt_shown(gateway, shell), message="the command to start")
    first = services.message_send(agent=shell, body="echo one >> order.txt")
    second = services.message_send(agent=shell, body="echo two >> order.txt")

    assert Message.objects.get(pk=first.pk).status == MessageStatus.QUEUED  # not typed into a busy agent
    wait_for(lambda: prompt_shown(gateway, shell), message="the command to end")
    host_sweep(host=settings.TMUX_ORC.agent_host)

    wait_for(lambda: lines(Path(project_dir) / "order.txt") == ["one", "two"], message="both, in order",
             describe=lambda: lines(Path(project_dir) / "order.txt"))
    assert {m.status for m in Message.objects.filter(pk__in=[first.pk, second.pk])} == {MessageStatus.DELIVERED}


def test_an_urgent_message_interrupts_a_busy_agent(shell, gateway, project_dir):
    gateway.type_text(shell.tmux_pane_id, "sleep 100")
    gateway.send_keys(shell.tmux_pane_id, "Enter")
    wait_for(lambda: not prompt_shown(gateway, shell), message="the command to start")

    message = services.message_send(agent=shell, body="echo urgent >> urgent.txt", urgent=True)

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED, message.error
    assert "interrupt" in message.delivery_log
    wait_for(lambda: lines(Path(project_dir) / "urgent.txt") == ["urgent"], message="the urgent command")


def test_a_delivery_interrupted_after_typing_is_submitted_not_typed_again(shell, gateway, project_dir):
    body = "echo once >> once.txt"
    message = Message.objects.create(agent=shell, body=body, status=MessageStatus.DELIVERING, attempts=1,
                                     claimed_by=f"{settings.TMUX_ORC.agent_host}:999999999",
                                     claimed_at=timezone.now(), typed_at=timezone.now())
    gateway.type_text(shell.tmux_pane_id, body)  # what the worker did before it died

    delivery.deliver_pending(agent_id=shell.pk)

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED and message.attempts == 2
    assert "taken over" in message.delivery_log
    wait_for(lambda: lines(Path(project_dir) / "once.txt"), message="the command")
    assert lines(Path(project_dir) / "once.txt") == ["once"]


def test_a_delivery_that_died_before_recording_its_typing_does_not_type_twice(shell, gateway, project_dir):
    body = "echo single >> single.txt"
    message = Message.objects.create(agent=shell, body=body, status=MessageStatus.DELIVERING, attempts=1,
                                     claimed_by=f"{settings.TMUX_ORC.agent_host}:999999999", claimed_at=timezone.now())
    gateway.type_text(shell.tmux_pane_id, body)  # typed, then killed before writing typed_at

    delivery.deliver_pending(agent_id=shell.pk)

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    wait_for(lambda: lines(Path(project_dir) / "single.txt"), message="the command")
    assert lines(Path(project_dir) / "single.txt") == ["single"]


def died_while_submitting(shell, body: str) -> Message:
    return Message.objects.create(agent=shell, body=body, status=MessageStatus.DELIVERING, attempts=1,
                                  claimed_by=f"{settings.TMUX_ORC.agent_host}:999999999", claimed_at=timezone.now(),
                                  typed_at=timezone.now(), submitted_at=timezone.now(), submit_presses=1)


def test_a_delivery_that_died_just_after_pressing_enter_is_delivered_not_typed_again(shell, gateway, project_dir):
    message = died_while_submitting(shell, "echo pressed >> pressed.txt")
    gateway.type_text(shell.tmux_pane_id, message.body)
    gateway.send_keys(shell.tmux_pane_id, "Enter")  # what the worker did before it died
    wait_for(lambda: lines(Path(project_dir) / "pressed.txt"), message="the command")
    wait_for(lambda: prompt_shown(gateway, shell), message="the prompt again")

    delivery.deliver_pending(agent_id=shell.pk)

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED, message.error
    assert "already submitted" in message.delivery_log
    assert lines(Path(project_dir) / "pressed.txt") == ["pressed"]


def test_a_delivery_that_died_as_it_was_about_to_press_enter_is_submitted_once(shell, gateway, project_dir):
    message = died_while_submitting(shell, "echo about >> about.txt")
    gateway.type_text(shell.tmux_pane_id, message.body)  # the press was written down, the key never sent

    delivery.deliver_pending(agent_id=shell.pk)

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED, message.error
    wait_for(lambda: lines(Path(project_dir) / "about.txt"), message="the command")
    assert lines(Path(project_dir) / "about.txt") == ["about"]


def test_a_delivery_held_by_a_live_worker_is_left_alone(shell):
    message = Message.objects.create(agent=shell, body="echo no", status=MessageStatus.DELIVERING, attempts=1,
                                     claimed_by=f"{settings.TMUX_ORC.agent_host}:1", claimed_at=timezone.now())

    delivery.deliver_pending(agent_id=shell.pk)

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERING and message.attempts == 1


def test_a_message_for_a_killed_agent_fails_with_a_reason(shell):
    waiting = Message.objects.create(agent=shell, body="echo late")
    services.operation_run(operation_id=services.agent_kill(agent=shell).pk)

    waiting.refresh_from_db()
    assert waiting.status == MessageStatus.FAILED and waiting.error == "the agent was killed"


def test_a_message_to_a_window_that_vanished_fails_with_a_reason(shell, gateway):
    gateway.kill_window(shell.tmux_window_id)
    gateway.create_window(delivery_spec_keepalive(shell))

    message = services.message_send(agent=shell, body="echo lost")

    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and "window" in message.error and "gone" in message.error


def delivery_spec_keepalive(agent):
    from agents.gateway import WindowSpec

    return WindowSpec("keepalive", "w", "exec sleep 600", agent.project_path)


def test_a_message_no_worker_took_in_time_expires(shell, monkeypatch):
    message = Message.objects.create(agent=shell, body="echo stale")
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(hours=2))

    delivery.deliver_pending(agent_id=shell.pk)

    message.refresh_from_db()
    assert message.status == MessageStatus.EXPIRED and "not delivered within" in message.error


def test_broadcast_reaches_only_the_selected_agent_types(shell, project_dir):
    qa = services.agent_spawn(session_name="dlv", agent_type="qa", project_path=project_dir, profile="shell")

    sent = services.message_broadcast(sessions=["dlv"], body="echo all", agent_types=["qa"])

    assert [m.agent_id for m in sent] == [qa.agent_id]



def test_history_keeps_what_the_agent_answered(shell, gateway, api):
    services.message_send(agent=shell, body="echo the-answer-is-42")

    def answered():
        host_sweep(host=settings.TMUX_ORC.agent_host)
        return Message.objects.get(body="echo the-answer-is-42").reply

    assert wait_for(answered, message="the reply to be recorded") == "the-answer-is-42"
    history = api.get("/messages/history", {"target": shell.target}).json()["data"]
    assert [(m["kind"], m["body"], m["reply"]) for m in history][-1] == ("message", "echo the-answer-is-42",
                                                                        "the-answer-is-42")


def test_broadcast_says_when_it_reaches_nobody(shell):
    from orchestrator.errors import InvalidInput, NotFound

    with pytest.raises(NotFound, match="no live agents of types qa in sessions dlv"):
        services.message_broadcast(sessions=["dlv"], body="hello", agent_types=["qa"])
    with pytest.raises(InvalidInput, match="unknown types wizard"):
        services.message_broadcast(sessions=["dlv"], body="hello", agent_types=["wizard"])


class HeldGateway:
    """The real gateway, but the first call of `method` stops until the test lets it go."""

    def __init__(self, real, method: str):
        self.real, self.method = real, method
        self.reached, self.release = threading.Event(), threading.Event()

    def __getattr__(self, name):
        attribute = getattr(self.real, name)
        if name != self.method or self.reached.is_set():
            return attribute

        def held(*args, **kwargs):
            self.reached.set()
            assert self.release.wait(timeout=60), "the test never let the call go"
            return attribute(*args, **kwargs)

        return held


def deliver_in_thread(agent_id: int, gateway) -> threading.Thread:
    def run():
        try:
            delivery.deliver_pending(agent_id=agent_id, gateway=gateway)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_two_workers_racing_on_one_agent_never_type_at_once(shell, gateway, project_dir):
    """The first job chose the oldest message and was slow to claim it; meanwhile an urgent
    one came and a second job claimed and is typing it. The first job's claim must wait."""
    older = Message.objects.create(agent=shell, body="echo older >> race.txt")
    first_job = HeldGateway(gateway, "look_at_panes")  # holds before it claims `older`
    first = deliver_in_thread(shell.pk, first_job)
    wait_for(first_job.reached.is_set, message="the first job to choose its message")
    urgent = Message.objects.create(agent=shell, body="echo urgent >> race.txt", urgent=True)
    second_job = HeldGateway(gateway, "type_text")  # holds after it claimed `urgent`
    second = deliver_in_thread(shell.pk, second_job)
    wait_for(second_job.reached.is_set, message="the second job to claim the urgent message")

    first_job.release.set()
    first.join(timeout=30)

    assert not first.is_alive()
    assert Message.objects.get(pk=older.pk).status == MessageStatus.QUEUED  # not typed: it waited
    assert Message.objects.get(pk=urgent.pk).status == MessageStatus.DELIVERING
    second_job.release.set()
    second.join(timeout=60)  # the job in flight goes on to the waiting message
    wait_for(lambda: lines(Path(project_dir) / "race.txt") == ["urgent", "older"], message="each once, in turn",
             describe=lambda: lines(Path(project_dir) / "race.txt"))
    assert {m.status for m in Message.objects.filter(pk__in=[older.pk, urgent.pk])} == {MessageStatus.DELIVERED}
