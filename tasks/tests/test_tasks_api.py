"""The tasks API: the seed's payloads, filters, moves, and agents moving their own tasks."""

import pytest
from django.conf import settings

from agents.models import MessageStatus
from conftest import prompt_shown, wait_for
from monitoring.services import host_sweep
from orchestrator.services import agent_token_issue
from tasks.models import Task

SEED_TASK = {
    "title": "Implement user authentication",
    "description": "Create JWT-based auth system with secure token handling",
    "priority": "high",
    "completion_criteria": ["Login form completed", "Token storage implemented", "Session management working"],
    "estimated_hours": 4.5,
    "tags": ["authentication", "security"],
}


def create(api, **fields):
    response = api.post("/tasks/create", {**SEED_TASK, **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["data"]


@pytest.mark.django_db
def test_a_task_is_created_from_the_seed_payload(api):
    task = create(api)

    assert task["status"] == "pending" and task["priority"] == "high"
    assert task["estimated_hours"] == "4.50" and task["tags"] == ["authentication", "security"]
    assert task["completion_criteria"] == SEED_TASK["completion_criteria"]
    assert [(e["from_status"], e["to_status"]) for e in task["events"]] == [("", "pending")]
    assert api.get(f"/tasks/{task['id']}").json()["data"]["title"] == SEED_TASK["title"]


@pytest.mark.django_db
def test_tasks_are_listed_by_status_priority_and_tag_with_paging(api):
    ids = [create(api, title=f"t{i}", priority=p, tags=[t])["id"]
           for i, (p, t) in enumerate([("high", "ui"), ("low", "ui"), ("high", "api")])]
    api.post(f"/tasks/{ids[2]}/status", {"status": "blocked", "note": "waiting for the schema"}, format="json")

    def listed(**query):
        return [t["id"] for t in api.get("/tasks/list", query).json()["data"]["tasks"]]

    assert listed() == ids[::-1]
    assert listed(priority="high") == [ids[2], ids[0]]
    assert listed(tag="ui") == [ids[1], ids[0]]
    assert listed(status="blocked") == [ids[2]]
    assert listed(limit=1, offset=1) == [ids[1]]
    assert api.get("/tasks/list", {"limit": 1}).json()["data"]["count"] == 3


@pytest.mark.django_db
def test_impossible_moves_and_bad_input_are_refused_and_change_nothing(api):
    task = create(api)

    response = api.post(f"/tasks/{task['id']}/status", {"status": "done"}, format="json")
    assert response.status_code == 409
    assert response.json()["error_message"] == (
        f"task #{task['id']} is pending; it can move to assigned, blocked, cancelled")
    response = api.post(f"/tasks/{task['id']}/status", {"status": "assigned"}, format="json")
    assert response.status_code == 409 and "has nobody to be assigned to" in response.json()["error_message"]
    assert api.post("/tasks/create", {**SEED_TASK, "priority": "urgent"}, format="json").status_code == 400
    assert api.post("/tasks/create", {**SEED_TASK, "owner": "me"}, format="json").status_code == 400
    assert api.post("/tasks/create", {**SEED_TASK, "estimated_hours": -1}, format="json").status_code == 400
    assert api.post("/tasks/create", {**SEED_TASK, "checks": ["gate:nope"]}, format="json").status_code == 400
    assert api.patch(f"/tasks/{task['id']}", {"title": ""}, format="json").status_code == 400
    assert api.get("/tasks/999999").status_code == 404
    assert Task.objects.count() == 1 and Task.objects.get().status == "pending"
    assert api.post(f"/tasks/{task['id']}/status", {"status": "cancelled"}, format="json").status_code == 200
    assert api.post(f"/tasks/{task['id']}/status", {"status": "pending"}, format="json").status_code == 409


@pytest.mark.django_db
def test_a_task_is_updated_with_only_the_fields_given(api):
    task = create(api)

    response = api.patch(f"/tasks/{task['id']}", {"priority": "critical", "tags": ["security"]}, format="json")

    data = response.json()["data"]
    assert data["priority"] == "critical" and data["tags"] == ["security"]
    assert data["title"] == SEED_TASK["title"] and data["estimated_hours"] == "4.50"


@pytest.mark.django_db(transaction=True)
def test_an_agent_moves_its_own_task_with_its_own_token_from_its_pane(api, live_server, monkeypatch, request):
    """The agent's shell has TMUX_ORC_URL and TMUX_ORC_TOKEN: it calls the API itself."""
    monkeypatch.setattr(settings.TMUX_ORC, "public_url", live_server.url)
    shell = request.getfixturevalue("shell")
    gateway = request.getfixturevalue("gateway")
    task = create(api, assigned_to=shell.target)
    assert task["status"] == "assigned"
    brief = shell.messages.latest("created_at")
    assert brief.body.startswith(f"Task #{task['id']} (high priority): Implement user authentication")
    host_sweep(host=settings.TMUX_ORC.agent_host)
    wait_for(lambda: shell.messages.get(pk=brief.pk).status == MessageStatus.DELIVERED, message="the brief")
    wait_for(lambda: prompt_shown(gateway, shell), message="the prompt after the brief")

    def move(status):
        command = (f"curl -s -o /dev/null -w 'HTTP %{{http_code}}\\n' -X POST \"$TMUX_ORC_URL/tasks/{task['id']}/status\""
                   f" -H \"Authorization: Bearer $TMUX_ORC_TOKEN\" -H 'Content-Type: application/json'"
                   f" -d '{{\"status\": \"{status}\"}}'")
        gateway.type_text(shell.tmux_pane_id, command)
        gateway.send_keys(shell.tmux_pane_id, "Enter")

    for status in ["in_progress", "review", "done"]:
        move(status)
        wait_for(lambda: Task.objects.get(pk=task["id"]).status == status, message=f"the task {status}",
                 describe=lambda: gateway.capture_panes([shell.tmux_pane_id])[shell.tmux_pane_id][-300:])
    events = list(Task.objects.get(pk=task["id"]).events.values_list("to_status", "by"))[-3:]
    assert [status for status, _ in events] == ["in_progress", "review", "done"]
    assert all(by.startswith(f"token:agent:{shell.target}:") for _, by in events)


@pytest.mark.django_db(transaction=True)
def test_an_agent_token_changes_only_its_own_tasks(api, shell, project_dir):
    from rest_framework.test import APIClient

    from agents.services import agent_spawn

    other = agent_spawn(session_name="dlv", agent_type="developer", project_path=project_dir, profile="shell",
                        name="other").agent
    mine = create(api, assigned_to=shell.target)
    theirs = create(api, title="Not yours", assigned_to=other.target)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_token_issue(agent=shell)}")

    refused = client.post(f"/tasks/{theirs['id']}/status", {"status": "in_progress"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error_message"] == (
        f"task #{theirs['id']} is not assigned to {shell.target}; an agent changes only its own tasks")
    assert client.post("/tasks/create", SEED_TASK, format="json").status_code == 403
    assert client.post(f"/tasks/{mine['id']}/assign", {"target": other.target}, format="json").status_code == 403
    assert client.patch(f"/tasks/{mine['id']}", {"checks": ["rm -rf /"]}, format="json").status_code == 403
    assert client.post(f"/tasks/{mine['id']}/status", {"status": "in_progress"}, format="json").status_code == 200
    assert client.get("/tasks/list").json()["data"]["count"] == 2  # reading is open to every token
    assert Task.objects.get(pk=theirs["id"]).status == "assigned"
