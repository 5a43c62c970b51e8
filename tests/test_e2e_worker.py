"""End to end through a real Celery worker process consuming from real Redis: the API
asks, the worker on the agent's host queue acts on a real (private) tmux server."""

from __future__ import annotations

import secrets

import pytest
from django.conf import settings

from agents.models import OperationStatus

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_spawn_restart_kill_go_through_the_worker(api, worker, gateway, project_dir):
    payload = {"session_name": "e2e", "agent_type": "qa", "project_path": project_dir, "profile": "shell"}

    spawned = api.post("/agents/spawn", payload, format="json")

    assert spawned.status_code == 201, (spawned.json(), worker.text)
    data = spawned.json()["data"]
    assert data["operation"]["status"] == OperationStatus.SUCCEEDED
    panes = {p.pane_id: p for p in gateway.list_panes()}
    assert panes[data["tmux_pane_id"]].window_name == "Shell-qa"
    assert "agents.run_operation" in worker.text  # the worker, not this process, did it

    restarted = api.post("/agents/restart", {"target": data["target"]}, format="json")
    assert restarted.status_code == 200, restarted.json()
    new_pid = {p.pane_id: p.pid for p in gateway.list_panes()}[data["tmux_pane_id"]]
    assert new_pid != panes[data["tmux_pane_id"]].pid

    killed = api.post("/agents/kill", {"target": data["target"]}, format="json")
    assert killed.status_code == 200 and killed.json()["data"]["state"] == "stopped"
    assert gateway.list_panes() == []


def test_without_a_worker_for_the_host_the_api_says_so(api, tmux_socket, project_dir, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "default_timeout", 1.0)
    payload = {"session_name": "e2e", "agent_type": "qa", "project_path": project_dir, "profile": "shell"}
    # A host that never had a worker: refused, naming the live one (the tests' own host).
    nobody = f"nobody-{secrets.token_hex(3)}"
    refused = api.post("/agents/spawn", {**payload, "host": nobody}, format="json")
    assert refused.status_code == 409
    assert refused.json()["error_message"] == (f"host: the worker of host {nobody} is not alive; "
                                               f"live hosts: {settings.TMUX_ORC.agent_host}")

    # A host whose worker reported lately but takes nothing (it hangs, or just died): queued, and said so.
    response = api.post("/agents/spawn", payload, format="json")

    assert response.status_code == 202
    data = response.json()["data"]
    assert data["operation"]["status"] == "pending" and data["state"] == "starting"
    assert f"no worker for host {settings.TMUX_ORC.agent_host} has taken it yet" in data["detail"]


KILL_POINTS = {
    "claimed": lambda m: m.status != "queued",
    "typed": lambda m: m.typed_at is not None,
}


@pytest.mark.parametrize("kill_when", list(KILL_POINTS))
def test_a_worker_killed_mid_delivery_loses_nothing_and_types_nothing_twice(
    kill_when, claude_profile, stub, worker, api, gateway, project_dir
):
    from agents.models import Agent, AgentState, Message, MessageStatus
    from monitoring.services import host_sweep
    from conftest import wait_for

    def sweep_until(condition, message, timeout=60):
        def check():
            host_sweep(host=settings.TMUX_ORC.agent_host)  # also hands waiting deliveries to the worker
            return condition()
        return wait_for(check, timeout=timeout, interval=0.2, message=message, describe=lambda: worker.text[-3000:])

    payload = {"session_name": "fault", "agent_type": "qa", "project_path": project_dir, "profile": claude_profile}
    agent = Agent.objects.get(pk=api.post("/agents/spawn", payload, format="json").json()["data"]["id"])
    sweep_until(lambda: not agent.messages.exclude(status=MessageStatus.DELIVERED).exists()
                and Agent.objects.get(pk=agent.pk).state == AgentState.IDLE, "the briefing and an idle agent")
    body = "".join(f"{i:05d} must arrive exactly once; not twice, not zero times\n" for i in range(1500))

    sent = api.post("/messages/send", {"target": agent.target, "message": body}, format="json").json()["data"]
    wait_for(lambda: KILL_POINTS[kill_when](Message.objects.get(pk=sent["id"])), interval=0.005,
             message=f"the delivery to be {kill_when}")
    worker.kill()  # SIGKILL, the worker and its child, in the middle of the delivery
    killed_at = Message.objects.get(pk=sent["id"])
    worker.start(wait_for)

    sweep_until(lambda: Message.objects.get(pk=sent["id"]).status == MessageStatus.DELIVERED, "the delivery")
    sweep_until(lambda: body in stub.submitted(), "Claude Code to submit it")

    final = Message.objects.get(pk=sent["id"])
    assert stub.submitted().count(body) == 1, (killed_at.__dict__, final.delivery_log)
    assert killed_at.status == MessageStatus.DELIVERING and final.attempts == 2  # it died mid-way; the next took over
    assert [t for t in stub.submitted() if "must arrive exactly once" in t] == [body]
