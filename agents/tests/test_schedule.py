"""Scheduled check-ins: kept in the database, queued when due, cancellable."""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import Message, MessageStatus
from agents.services import message_expire_stale, messages_release_due
from conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_check_in_is_delivered_when_its_time_comes(api, shell, eager_jobs):
    response = api.post("/messages/schedule", {"target": shell.target, "message": "echo check-in", "minutes": 30},
                        format="json")

    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["status"] == "scheduled"
    message = Message.objects.get(pk=data["id"])
    assert 29 * 60 < (message.not_before - message.created_at).total_seconds() <= 30 * 60
    assert messages_release_due() == 0  # not yet
    Message.objects.filter(pk=message.pk).update(not_before=timezone.now() - timedelta(seconds=1))

    assert messages_release_due() == 1

    wait_for(lambda: Message.objects.get(pk=message.pk).status == MessageStatus.DELIVERED, message="the check-in")


def test_a_cancelled_check_in_is_never_delivered(api, shell, eager_jobs):
    scheduled = api.post("/messages/schedule", {"target": shell.target, "message": "echo later", "minutes": 5},
                         format="json").json()["data"]

    response = api.post(f"/messages/{scheduled['id']}/cancel")

    assert response.status_code == 200 and response.json()["data"]["status"] == "cancelled"
    Message.objects.filter(pk=scheduled["id"]).update(not_before=timezone.now() - timedelta(seconds=1))
    assert messages_release_due() == 0
    again = api.post(f"/messages/{scheduled['id']}/cancel")
    assert again.status_code == 409
    assert again.json()["error_message"] == f"message {scheduled['id']} is cancelled; only a scheduled or queued one can be cancelled"


def test_a_check_in_expires_from_when_it_was_due_not_when_it_was_written(shell, settings):
    long_ago = timezone.now() - timedelta(days=2)
    due = Message.objects.create(agent=shell, body="x", status=MessageStatus.QUEUED, not_before=timezone.now())
    Message.objects.filter(pk=due.pk).update(created_at=long_ago)
    stale = Message.objects.create(agent=shell, body="y", status=MessageStatus.QUEUED)
    Message.objects.filter(pk=stale.pk).update(created_at=long_ago)

    assert message_expire_stale() == 1
    assert Message.objects.get(pk=due.pk).status == MessageStatus.QUEUED


def test_a_check_in_goes_to_the_orchestrator_agent_when_nobody_is_named(api, shell, project_dir, eager_jobs):
    from agents.services import agent_spawn

    refused = api.post("/messages/schedule", {"message": "look at the teams", "minutes": 10}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error_message"].endswith("target: required (no orchestrator agent is running)")
    boss = agent_spawn(session_name="hq", agent_type="orchestrator", project_path=project_dir, profile="shell").agent

    response = api.post("/messages/schedule", {"message": "look at the teams", "minutes": 10}, format="json")

    assert response.status_code == 201 and response.json()["data"]["target"] == boss.target
    assert api.post("/messages/schedule", {"target": shell.target, "message": "x", "minutes": 0},
                    format="json").status_code == 400
