"""Alerts: a Slack-compatible webhook (a local receiver here) and e-mail (Django's outbox)."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from agents.models import Agent, AgentState
from conftest import wait_for
from monitoring.alerts import alert_raise, alert_send, alerts_resume
from monitoring.models import Alert, AlertKind, DeliveryStatus
from monitoring.services import _raise_alerts, host_sweep

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def webhook(monkeypatch):
    """A local Slack-compatible receiver; `.status` is what it answers."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(Handler.status)
            self.end_headers()

    Handler.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(settings.TMUX_ORC, "slack_webhook_url", f"http://127.0.0.1:{server.server_address[1]}/hook")
    monkeypatch.setattr(settings.TMUX_ORC, "alert_email_to", ["oncall@example.com"])
    server.received, server.handler = received, Handler
    yield server
    server.shutdown()
    server.server_close()


def crash(gateway, agent):
    gateway.type_text(agent.tmux_pane_id, "exit 9")
    gateway.send_keys(agent.tmux_pane_id, "Enter")
    wait_for(lambda: next(p for p in gateway.list_panes() if p.pane_id == agent.tmux_pane_id).dead,
             message="the program to exit")


def test_a_crash_is_alerted_by_webhook_and_email(shell, gateway, webhook, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "recovery_enabled", False)
    crash(gateway, shell)

    host_sweep(host=settings.TMUX_ORC.agent_host)

    alert = Alert.objects.get()
    assert alert.kind == AlertKind.CRASHED and (alert.slack, alert.email) == ("sent", "sent")
    assert len(webhook.received) == 1 and "dlv:Shell-developer" in webhook.received[0]["text"]
    assert "the program exited" in webhook.received[0]["text"]
    assert [m.to for m in mail.outbox] == [["oncall@example.com"]]
    assert "dlv:Shell-developer: crashed" in mail.outbox[0].subject


def test_an_alert_goes_out_once_per_cooldown(shell, webhook, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "alert_cooldown", 600.0)

    first = alert_raise(agent=shell, kind=AlertKind.STUCK, text="stuck")
    again = alert_raise(agent=shell, kind=AlertKind.STUCK, text="stuck again")
    other_kind = alert_raise(agent=shell, kind=AlertKind.CRASHED, text="crashed")
    Alert.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(seconds=601))
    after_cooldown = alert_raise(agent=shell, kind=AlertKind.STUCK, text="stuck later")

    assert first and again is None and other_kind and after_cooldown
    assert [r["text"].split("\n")[1] for r in webhook.received] == ["stuck", "crashed", "stuck later"]


def test_a_failing_webhook_is_recorded_and_email_still_goes(shell, webhook):
    webhook.handler.status = 500

    alert = alert_raise(agent=shell, kind=AlertKind.CRASHED, text="crashed")

    alert.refresh_from_db()
    assert alert.slack == DeliveryStatus.FAILED and "500" in alert.error
    assert alert.email == DeliveryStatus.SENT and len(mail.outbox) == 1


def test_without_channels_alerts_are_kept_but_not_sent(shell, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "slack_webhook_url", "")
    monkeypatch.setattr(settings.TMUX_ORC, "alert_email_to", [])

    alert = alert_raise(agent=shell, kind=AlertKind.CRASHED, text="crashed")

    alert.refresh_from_db()
    assert (alert.slack, alert.email) == (DeliveryStatus.NOT_CONFIGURED, DeliveryStatus.NOT_CONFIGURED)


def test_a_permission_prompt_waiting_too_long_is_alerted(shell, webhook, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "approval_alert_after", 60.0)
    Agent.objects.filter(pk=shell.pk).update(state=AgentState.WAITING_APPROVAL,
                                             state_changed_at=timezone.now() - timedelta(minutes=5))
    agent = Agent.objects.get(pk=shell.pk)

    _raise_alerts([agent], {agent.pk: agent.state})

    assert Alert.objects.get().kind == AlertKind.WAITING_APPROVAL
    assert "waiting 5 min for a permission answer" in webhook.received[0]["text"]


def test_recovery_giving_up_is_alerted(shell, gateway, webhook, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "max_restarts", 0)
    crash(gateway, shell)

    host_sweep(host=settings.TMUX_ORC.agent_host)

    assert Agent.objects.get(pk=shell.pk).state == AgentState.FAILED
    assert sorted(Alert.objects.values_list("kind", flat=True)) == [AlertKind.CRASHED, AlertKind.RECOVERY_FAILED]


def test_an_alert_whose_job_went_missing_is_sent_once_by_the_reconciler(webhook, eager_jobs):
    agent = Agent.objects.create(name="a", session_name="p", agent_type="qa", profile="shell", project_path="/tmp",
                                 host="h1", state=AgentState.CRASHED)
    alert = Alert.objects.create(agent=agent, kind=AlertKind.CRASHED, text="p:a crashed")  # its job never ran
    assert alerts_resume() == 0  # just raised: its job may still be on its way
    Alert.objects.filter(pk=alert.pk).update(created_at=timezone.now() - timedelta(minutes=2))

    assert alerts_resume() == 1
    alert_send(alert_id=alert.pk)  # a late copy of the original job

    assert len(webhook.received) == 1
    alert.refresh_from_db()
    assert alert.slack == DeliveryStatus.SENT and alert.sent_at is not None
    assert alerts_resume() == 0


def test_an_input_never_found_on_screen_is_alerted_naming_the_profile(project_dir, gateway, eager_jobs, webhook,
                                                                      monkeypatch):
    """A program whose screen the profile cannot read (here: markers that cannot match)
    stays `starting`; after a while an alert says which profile's markers to check."""
    from agents import services

    monkeypatch.setattr(settings.TMUX_ORC, "profiles", {**settings.TMUX_ORC.profiles, "blind": {
        "command": "bash --norc --noprofile", "input_style": "line", "input_marker": "NEVER-SHOWN> ",
        "version": "9.9.9"}})
    operation = services.agent_spawn(session_name="blind", agent_type="qa", project_path=project_dir, profile="blind")
    agent = Agent.objects.get(pk=operation.agent_id)
    wait_for(lambda: gateway.capture_panes([agent.tmux_pane_id]).get(agent.tmux_pane_id, "").strip(),
             message="the shell's prompt")
    host_sweep(host=settings.TMUX_ORC.agent_host)
    assert Agent.objects.get(pk=agent.pk).state == AgentState.STARTING
    assert not Alert.objects.exists()

    Agent.objects.filter(pk=agent.pk).update(state_changed_at=timezone.now() - timedelta(minutes=3))
    host_sweep(host=settings.TMUX_ORC.agent_host)

    alert = Alert.objects.get()
    assert alert.kind == AlertKind.SCREEN_MARKERS
    assert "profile blind (read from bash 9.9.9)" in alert.text and "tmux-orc profiles check" in alert.text
    assert "has not been found on its screen" in webhook.received[0]["text"]
