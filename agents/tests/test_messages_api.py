"""The messages API over a real shell agent (jobs run inline, on a private tmux server)."""

from pathlib import Path

import pytest

from agents.models import AgentState
from conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ENVELOPE = {"success", "data", "error_message", "timestamp"}


def test_send_and_wait_for_delivery(api, shell, project_dir):
    response = api.post("/messages/send?wait=20", {"target": shell.target, "message": "echo api >> api.txt"},
                        format="json")

    assert response.status_code == 201 and set(response.json()) == ENVELOPE
    data = response.json()["data"]
    assert data["status"] == "delivered" and data["sender"].startswith("token:") and data["urgent"] is False
    wait_for(lambda: (Path(project_dir) / "api.txt").exists(), message="the command to run")
    again = api.get(f"/messages/{data['id']}").json()["data"]
    assert again["status"] == "delivered" and again["delivered_at"]


def test_broadcast_returns_one_message_per_agent(api, shell):
    response = api.post("/messages/broadcast", {"sessions": [shell.session_name], "message": "echo hi",
                                                "agent_types_only": ["developer"]}, format="json")
    assert response.status_code == 201
    assert [m["target"] for m in response.json()["data"]] == [shell.target]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"message": "hi"}, "target"),
        ({"target": "nocolon", "message": "hi"}, "target"),
        ({"target": "dlv:Shell-developer", "message": ""}, "message"),
        ({"target": "dlv:Shell-developer", "message": "   "}, "message"),
        ({"target": "dlv:Shell-developer", "message": 7}, "message"),
        ({"target": "dlv:Shell-developer", "message": "x" * 200_001}, "message"),
        ({"target": "dlv:Shell-developer", "message": "hi", "urgent": "very"}, "urgent"),
        ({"target": "dlv:Shell-developer", "message": "hi", "priority": 1}, "priority"),
    ],
)
def test_bad_messages_are_refused_and_nothing_is_queued(api, shell, payload, field):
    response = api.post("/messages/send", payload, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error_message"]
    assert shell.messages.exclude(kind="briefing").count() == 0


def test_wait_out_of_range_is_refused(api, shell):
    response = api.post("/messages/send?wait=9999", {"target": shell.target, "message": "hi"}, format="json")
    assert response.status_code == 400 and "wait" in response.json()["error_message"]


def test_messages_to_unknown_or_stopped_agents(api, shell):
    missing = api.post("/messages/send", {"target": "nobody:here", "message": "hi"}, format="json")
    assert missing.status_code == 404
    shell.set_state(AgentState.STOPPED, "killed")
    stopped = api.post("/messages/send", {"target": shell.target, "message": "hi"}, format="json")
    assert stopped.status_code == 409 and "stopped" in stopped.json()["error_message"]
    assert api.get("/messages/999999").status_code == 404


def test_approve_needs_a_prompt_on_screen(api, shell):
    response = api.post("/agents/approve", {"target": shell.target, "choice": 2}, format="json")
    assert response.status_code == 422
    assert "not showing a permission prompt" in response.json()["error_message"]
    bad = api.post("/agents/approve", {"target": shell.target, "choice": 12}, format="json")
    assert bad.status_code == 400 and "choice" in bad.json()["error_message"]
