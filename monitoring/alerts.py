"""Alerts about agents: raised with a cooldown per agent and kind, sent to a
Slack-compatible webhook and by e-mail."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents.models import Agent
from monitoring.models import Alert, DeliveryStatus
from orchestrator.celery import enqueue

log = logging.getLogger(__name__)
SENDING_LEASE = timedelta(minutes=5)  # a send takes seconds; one claimed this long ago died
LOST_AFTER = timedelta(minutes=1)  # an alert still unsent this long after it was raised
SEND_WITHIN = timedelta(hours=1)  # older than this, an alert is not worth sending any more


def alert_raise(*, agent: Agent, kind: str, text: str) -> Alert | None:
    """Record an alert and have it sent, unless one of this kind about this agent went
    out within the cooldown (`TMUX_ORC_ALERT_COOLDOWN`)."""
    since = timezone.now() - timedelta(seconds=settings.TMUX_ORC.alert_cooldown)
    with transaction.atomic():
        Agent.objects.select_for_update().filter(pk=agent.pk).first()  # one alert at a time per agent
        if Alert.objects.filter(agent=agent, kind=kind, created_at__gte=since).exists():
            return None
        alert = Alert.objects.create(agent=agent, kind=kind, text=text[:1000])
        _enqueue(alert)
    return alert


def _enqueue(alert: Alert) -> None:
    enqueue("monitoring.send_alert", args=[alert.pk], expires=SEND_WITHIN.total_seconds())



def alert_send(*, alert_id: int) -> None:
    """Send the alert on each channel still pending; a channel that fails is recorded.
    Claimed first, so a second copy of the job sends nothing."""
    alert = Alert.objects.select_related("agent").filter(pk=alert_id).first()
    if alert is None or not _claim(alert):
        return
    subject = f"[tmux-orchestrator] {alert.agent.target}: {alert.kind.replace('_', ' ')}"
    errors = []
    for channel, send in (("slack", _slack), ("email", _email)):
        if getattr(alert, channel) != DeliveryStatus.PENDING:
            continue
        try:
            status = send(subject, alert.text)
        except (OSError, urllib.error.URLError, ValueError) as error:
            status = DeliveryStatus.FAILED
            errors.append(f"{channel}: {error}")
            log.warning("alert %s by %s failed: %s", alert.pk, channel, error)
        Alert.objects.filter(pk=alert.pk).update(**{channel: status})
    Alert.objects.filter(pk=alert.pk).update(error="; ".join(errors)[:1000], sent_at=timezone.now())


def _claim(alert: Alert) -> bool:
    now = timezone.now()
    unsent = Alert.objects.filter(pk=alert.pk, sent_at=None)
    return bool(unsent.filter(Q(sending_since=None) | Q(sending_since__lt=now - SENDING_LEASE)).update(
        sending_since=now))


def alerts_resume() -> int:
    """Enqueue again the alerts whose job went missing (a worker killed with it in hand)."""
    now = timezone.now()
    lost = Alert.objects.filter(sent_at=None, created_at__lt=now - LOST_AFTER, created_at__gte=now - SEND_WITHIN).filter(
        Q(sending_since=None) | Q(sending_since__lt=now - SENDING_LEASE))
    for alert in lost:
        _enqueue(alert)
    return len(lost)


def _slack(subject: str, text: str) -> str:
    url = settings.TMUX_ORC.slack_webhook_url
    if not url:
        return DeliveryStatus.NOT_CONFIGURED
    body = json.dumps({"text": f"*{subject}*\n{text}"}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status >= 300:
            raise ValueError(f"the webhook answered {response.status}")
    return DeliveryStatus.SENT


def _email(subject: str, text: str) -> str:
    recipients = settings.TMUX_ORC.alert_email_to
    if not recipients:
        return DeliveryStatus.NOT_CONFIGURED
    send_mail(subject, text, None, recipients)
    return DeliveryStatus.SENT
