"""/metrics in the Prometheus text format, with the orchestrator's own metrics."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from agents.models import Agent, AgentState, Message, MessageStatus

pytestmark = pytest.mark.django_db


def scrape(api) -> dict:
    response = api.get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.content.decode()) for s in family.samples}


def test_metrics_report_agents_messages_latency_and_restarts(api):
    agent = Agent.objects.create(name="a", session_name="p", agent_type="qa", profile="shell", project_path="/tmp",
                                 host="h1", state=AgentState.IDLE)
    now = timezone.now()
    for seconds in (0.2, 3, 40):
        m = Message.objects.create(agent=agent, body="x", status=MessageStatus.DELIVERED)
        Message.objects.filter(pk=m.pk).update(created_at=now - timedelta(seconds=seconds), delivered_at=now)
    agent.set_state(AgentState.CRASHED, "gone")
    agent.set_state(AgentState.STARTING, "restarted")

    samples = scrape(api)

    assert samples[("tmux_orc_agents", (("state", "starting"),))] == 1
    assert samples[("tmux_orc_messages", (("status", "delivered"),))] == 3
    assert samples[("tmux_orc_delivery_seconds_bucket", (("le", "0.5"),))] == 1
    assert samples[("tmux_orc_delivery_seconds_bucket", (("le", "5.0"),))] == 2
    assert samples[("tmux_orc_delivery_seconds_count", ())] == 3
    assert 43 <= samples[("tmux_orc_delivery_seconds_sum", ())] <= 44
    assert samples[("tmux_orc_restarts_total", ())] == 1
    assert any(name.startswith("django_http_requests") for name, _ in samples)  # django-prometheus too


def test_deploy_files_scrape_and_chart_metrics_that_exist(api):
    import json
    import re

    import yaml

    from conftest import ROOT

    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    assert prometheus["scrape_configs"][0]["metrics_path"] == "/metrics"
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "tmux-orchestrator.json").read_text())
    titles = {p["title"] for p in dashboard["panels"]}
    assert {"Agents by state", "Message delivery latency", "Health sweep duration",
            "Restarts: crashed agents and the service's processes",
            "API latency"} <= titles
    from monitoring.services import supervisor_started, worker_started

    worker_started()  # so the sweep time has a sample
    supervisor_started(host="box", processes=["worker"])  # and the service's restarts
    api.get("/agents/list")  # and request latency too
    exported = {name for name, _ in scrape(api)}
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for metric in re.findall(r"\b((?:tmux_orc|django)_[a-z_]+)", target["expr"]):
                family = re.sub(r"_(bucket|total)$", "", metric)
                assert any(name.startswith(family) for name in exported), (panel["title"], metric)


def test_restarts_of_the_services_processes_are_counted_per_host_and_process(api, client):
    from monitoring.services import supervisor_restarted, supervisor_started

    supervisor_started(host="box", processes=["web", "worker", "beat"])
    supervisor_restarted(host="box", process="worker", exit_status="killed by SIGKILL", restarts=1)
    supervisor_restarted(host="box", process="worker", exit_status="status 1", restarts=2)

    samples = scrape(api)
    health = client.get("/monitor/health").json()["data"]

    assert samples[("tmux_orc_service_restarts_total", (("host", "box"), ("process", "worker")))] == 2
    assert samples[("tmux_orc_service_restarts_total", (("host", "box"), ("process", "web")))] == 0
    assert health["restarts"] == {"box": {"web": 0, "worker": 2, "beat": 0}}
