"""Standups on real tmux: replies from reports and from screens, and who did not answer."""

from datetime import timedelta

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from agents.models import Agent
from agents.services import agent_spawn
from conftest import prompt_shown, wait_for
from monitoring.services import host_sweep
from orchestrator.services import agent_token_issue
from teams.models import Standup
from teams.services import standups_finish_due

pytestmark = pytest.mark.django_db(transaction=True)


def sweep():
    host_sweep(host=settings.TMUX_ORC.agent_host)


def started(gateway, session, name, project_dir):
    agent = agent_spawn(session_name=session, agent_type="developer", project_path=project_dir, profile="shell",
                        name=name, briefing="# ready").agent
    wait_for(lambda: prompt_shown(gateway, Agent.objects.get(pk=agent.pk)), message=f"{name}'s prompt")
    wait_for(lambda: (sweep(), Agent.objects.get(pk=agent.pk).state == "idle" and prompt_shown(gateway, agent)
                      and agent.messages.get().status == "delivered")[1], message=f"{name} idle, briefed")
    return Agent.objects.get(pk=agent.pk)


def test_a_standup_collects_replies_and_lists_who_did_not_answer(api, gateway, project_dir, eager_jobs, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "standup_message", "echo standup-$((6*7))-fixed-the-login")
    writer, reporter, busy = (started(gateway, "web", name, project_dir) for name in ("writer", "reporter", "busy"))
    gateway.type_text(busy.tmux_pane_id, "sleep 600")
    gateway.send_keys(busy.tmux_pane_id, "Enter")
    wait_for(lambda: (sweep(), Agent.objects.get(pk=busy.pk).state == "working")[1], message="busy working")

    response = api.post("/coordination/standup", {"session_names": ["web"], "timeout_seconds": 60, "wait": False},
                        format="json")

    assert response.status_code == 202, response.content
    standup_id = response.json()["data"]["id"]
    agent_client = APIClient()
    agent_client.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_token_issue(agent=reporter)}")
    report = agent_client.post("/agents/report", {"text": "Reviewing PR 12; blocked on the staging database."},
                               format="json")
    assert report.status_code == 201, report.content

    def answered():
        sweep()
        replies = api.get(f"/coordination/standup/{standup_id}").json()["data"]["replies"]
        return [r for r in replies if r["answered"]] if sum(r["answered"] for r in replies) == 2 else None

    wait_for(answered, timeout=20, message="two replies", describe=lambda: [
        (m.agent.name, m.status, m.reply, m.replied_at) for m in Standup.objects.get().replies.all()
        for m in [m.request]] + [gateway.capture_panes([writer.tmux_pane_id])[writer.tmux_pane_id][-200:]])
    Standup.objects.filter(pk=standup_id).update(created_at=Standup.objects.get().created_at - timedelta(minutes=2))
    assert standups_finish_due() == 1

    data = api.get(f"/coordination/standup/{standup_id}").json()["data"]
    replies = {r["target"]: r for r in data["replies"]}
    assert data["finished_at"] is not None
    assert replies["web:reporter"]["source"] == "report"
    assert replies["web:reporter"]["text"] == "Reviewing PR 12; blocked on the staging database."
    assert replies["web:writer"]["source"] == "screen"
    assert replies["web:writer"]["text"] == "standup-42-fixed-the-login"
    assert data["not_answered"] == ["web:busy"]


def test_a_standup_that_waits_answers_when_its_time_is_up(api, gateway, project_dir, eager_jobs, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "standup_message", "true")  # no output: no answer
    started(gateway, "web", "quiet", project_dir)

    response = api.post("/coordination/standup", {"session_names": ["web"], "timeout_seconds": 1}, format="json")

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["finished_at"] is not None and data["not_answered"] == ["web:quiet"]


def test_standup_input_errors(api, db):
    assert api.post("/coordination/standup", {"session_names": ["nowhere"]}, format="json").status_code == 404
    assert api.post("/coordination/standup", {"timeout_seconds": 0}, format="json").status_code == 400
    assert api.post("/coordination/standup", {"session_names": "web"}, format="json").status_code == 400


def test_a_report_needs_a_target_with_a_person_token_and_only_oneself_with_an_agent_token(api, shell):
    assert api.post("/agents/report", {"text": "hi"}, format="json").status_code == 400
    assert api.post("/agents/report", {"target": shell.target, "text": "hi"}, format="json").status_code == 201
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_token_issue(agent=shell)}")
    other = Agent.objects.create(name="other", session_name="dlv", agent_type="developer", profile="shell",
                                 project_path=shell.project_path, host=shell.host, state="idle")
    refused = client.post("/agents/report", {"target": other.target, "text": "hi"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error_message"] == f"{shell.target} can report status only for itself"
    assert client.post("/agents/report", {"text": "   "}, format="json").status_code == 400
    assert shell.reports.count() == 1
