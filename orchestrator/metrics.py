"""Prometheus metrics at /metrics, behind the same bearer token as the API.

Request metrics come from django-prometheus; with several web server processes they are
merged through PROMETHEUS_MULTIPROC_DIR, which `tmux-orc server start` sets. The
orchestrator's own metrics are read from the database at each scrape, so every process
gives the same answer.
"""

from __future__ import annotations

import os
from datetime import timedelta

import prometheus_client
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.http import HttpResponse, JsonResponse
from prometheus_client import multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString
from rest_framework.exceptions import AuthenticationFailed

from orchestrator.api import envelope
from orchestrator.auth import BearerTokenAuthentication

DELIVERY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 1800)


class OrchestratorCollector:
    """Agents by state, messages by status, delivery latency, restarts, alerts, sweeps."""

    def collect(self):
        from agents.models import AgentEvent, AgentState
        from monitoring.models import Alert, Heartbeat
        from monitoring.selectors import agents_by_state, messages_by_status, service_restarts

        agents = GaugeMetricFamily("tmux_orc_agents", "Agents by state.", labels=["state"])
        for state, count in agents_by_state().items():
            agents.add_metric([state], count)
        yield agents
        messages = GaugeMetricFamily("tmux_orc_messages", "Messages by status.", labels=["status"])
        for status, count in messages_by_status().items():
            messages.add_metric([status], count)
        yield messages
        yield _delivery_histogram()
        restarts = AgentEvent.objects.filter(from_state=AgentState.CRASHED, to_state=AgentState.STARTING).count()
        yield CounterMetricFamily("tmux_orc_restarts", "Automatic and manual restarts of crashed agents.", restarts)
        alerts = CounterMetricFamily("tmux_orc_alerts", "Alerts raised, by kind.", labels=["kind"])
        for kind, count in Alert.objects.values_list("kind").annotate(n=Count("id")).order_by():
            alerts.add_metric([kind], count)
        yield alerts
        service = CounterMetricFamily("tmux_orc_service_restarts", "Restarts of the service's own processes "
                                      "(web, worker, watcher, beat) by their supervisor.", labels=["host", "process"])
        for host, processes in service_restarts().items():
            for process, count in processes.items():
                service.add_metric([host, process], count)
        yield service
        sweep = GaugeMetricFamily("tmux_orc_sweep_duration_seconds", "Duration of each host's last sweep.",
                                  labels=["host"])
        for beat in Heartbeat.objects.filter(name__startswith="worker:"):
            if beat.details.get("sweep_ms") is not None:
                sweep.add_metric([beat.name.split(":", 1)[1]], beat.details["sweep_ms"] / 1000)
        yield sweep


def _delivery_histogram() -> HistogramMetricFamily:
    from agents.models import Message, MessageStatus

    latency = ExpressionWrapper(F("delivered_at") - F("created_at"), output_field=DurationField())
    delivered = Message.objects.filter(status=MessageStatus.DELIVERED, delivered_at__isnull=False).annotate(
        latency=latency
    )
    counts = delivered.aggregate(
        total=Count("id"), seconds=Sum("latency"),
        **{f"le_{i}": Count("id", filter=Q(latency__lte=timedelta(seconds=b))) for i, b in enumerate(DELIVERY_BUCKETS)},
    )
    buckets = [(floatToGoString(b), counts[f"le_{i}"]) for i, b in enumerate(DELIVERY_BUCKETS)]
    buckets.append(("+Inf", counts["total"]))
    total_seconds = counts["seconds"].total_seconds() if counts["seconds"] else 0.0
    return HistogramMetricFamily("tmux_orc_delivery_seconds", "From queued to delivered, for delivered messages.",
                                 buckets=buckets, sum_value=total_seconds)


ORCHESTRATOR_REGISTRY = prometheus_client.CollectorRegistry(auto_describe=False)
ORCHESTRATOR_REGISTRY.register(OrchestratorCollector())


def _request_metrics() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return prometheus_client.generate_latest(registry)
    return prometheus_client.generate_latest(prometheus_client.REGISTRY)


def metrics_view(request):
    try:
        authenticated = BearerTokenAuthentication().authenticate(request)
    except AuthenticationFailed as error:
        authenticated, reason = None, str(error.detail)
    else:
        reason = "send 'Authorization: Bearer <token>'"
    if authenticated is None:
        response = JsonResponse(envelope(None, f"authentication required: {reason}"), status=401)
        response["WWW-Authenticate"] = 'Bearer realm="tmux-orchestrator"'
        return response
    page = _request_metrics() + prometheus_client.generate_latest(ORCHESTRATOR_REGISTRY)
    return HttpResponse(page, content_type=prometheus_client.CONTENT_TYPE_LATEST)
