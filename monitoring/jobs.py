"""Periodic jobs: beat fans the health sweep out to each host's own worker."""

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from agents.services import message_expire_stale, messages_release_due
from monitoring import alerts, services
from orchestrator.celery import host_queue


@shared_task(name="monitoring.sweep_hosts", time_limit=30)
def sweep_hosts() -> None:
    interval = settings.TMUX_ORC.health_check_interval
    if not services.beat_tick():
        return  # another beat already asked for this interval's sweep
    for host in services.hosts_to_sweep():
        sweep_host.apply_async(args=[host], queue=host_queue(host), expires=services.periodic_expiry(interval))


@shared_task(name="monitoring.expire_messages", time_limit=30)
def expire_messages() -> None:
    message_expire_stale()


@shared_task(name="monitoring.release_messages", time_limit=30)
def release_messages() -> None:
    messages_release_due()


@shared_task(name="monitoring.sweep_host", soft_time_limit=30, time_limit=40)
def sweep_host(host: str) -> None:
    services.host_sweep(host=host)


@shared_task(name="monitoring.send_alert", acks_late=True, soft_time_limit=60, time_limit=90)
def send_alert(alert_id: int) -> None:
    alerts.alert_send(alert_id=alert_id)


@shared_task(name="monitoring.resume_alerts", time_limit=30)
def resume_alerts() -> None:
    alerts.alerts_resume()


@worker_ready.connect
def _announce_worker(**kwargs) -> None:
    """A new worker says so at once, so health checks and sweeps know its host."""
    services.worker_started()
