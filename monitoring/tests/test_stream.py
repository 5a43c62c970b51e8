"""The live stream (server-sent events) through the ASGI stack, with the API's tokens."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient

from agents.models import Agent, AgentState, Message, MessageStatus
from conftest import prompt_shown, wait_for
from monitoring.models import PaneScreen

pytestmark = pytest.mark.django_db(transaction=True)


def parse(text: str) -> list[dict]:
    """The events in a piece of an event stream: {"event", "id", "data"} each."""
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            events.append({"event": fields["event"], "id": fields.get("id"), "data": json.loads(fields["data"])})
    return events


def follow(token: str, query: str, steps, until, timeout: float = 10.0, headers: dict | None = None) -> list[dict]:
    """Open the stream and read events until `until(events)` holds or `timeout` passes. Each
    step `(ready, act)` runs `act()` (in a thread, as another client would) once
    `ready(events)` holds, in order."""
    async def run():
        response = await AsyncClient().get(f"/monitor/stream{query}",
                                           headers={"authorization": f"Bearer {token}", **(headers or {})})
        assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
        chunks = aiter(response.streaming_content)
        text = (await anext(chunks)).decode()  # the stream is open
        events: list[dict] = []
        todo = list(steps)

        async def read():
            nonlocal text
            while todo and todo[0][0](events):
                await sync_to_async(todo.pop(0)[1], thread_sensitive=False)()
            async for chunk in chunks:
                text += chunk.decode()
                events[:] = parse(text)
                while todo and todo[0][0](events):
                    await sync_to_async(todo.pop(0)[1], thread_sensitive=False)()
                if not todo and until(events):
                    return

        try:
            await asyncio.wait_for(read(), timeout)
        except TimeoutError:
            pass
        await chunks.aclose()
        return events

    return async_to_sync(run)()


def at_once(events) -> bool:
    return True


def statuses(events) -> list[str]:
    return [e["data"]["status"] for e in events if e["event"] == "message"]


@pytest.fixture
def agent():
    return Agent.objects.create(name="Shell-qa", session_name="st", agent_type="qa", profile="shell",
                                project_path="/tmp", host="h", tmux_pane_id="%1", state=AgentState.IDLE)


def test_state_changes_and_message_statuses_arrive_as_they_happen(agent, api_token):
    def deliver():
        Message.objects.filter(agent=agent).update(status=MessageStatus.DELIVERED)

    events = follow(api_token, "", [
        (at_once, lambda: agent.set_state(AgentState.WORKING, "took message #1")),
        (at_once, lambda: Message.objects.create(agent=agent, body="hello")),
        (lambda e: "queued" in statuses(e), deliver),
    ], until=lambda e: "delivered" in statuses(e))

    state = next(e for e in events if e["event"] == "state")["data"]
    assert (state["target"], state["from_state"], state["to_state"]) == ("st:Shell-qa", "idle", "working")
    assert statuses(events) == ["queued", "delivered"]
    assert next(e for e in events if e["event"] == "message")["data"]["body_preview"] == "hello"


def test_a_client_that_reconnects_gets_what_it_missed_and_nothing_twice(agent, api_token):
    first = follow(api_token, "", [(at_once, lambda: agent.set_state(AgentState.WORKING, "busy"))], until=bool)
    Agent.objects.get(pk=agent.pk).set_state(AgentState.IDLE, "done")  # while nobody follows

    again = follow(api_token, "", [], until=bool, timeout=3, headers={"last-event-id": first[-1]["id"]})

    assert [e["data"]["to_state"] for e in again if e["event"] == "state"] == ["idle"]


def test_one_agent_only_with_a_target(agent, api_token):
    other = Agent.objects.create(name="Other", session_name="st", agent_type="qa", profile="shell",
                                 project_path="/tmp", host="h", state=AgentState.IDLE)

    def work():
        other.set_state(AgentState.WORKING, "not followed")
        agent.set_state(AgentState.WORKING, "followed")

    events = follow(api_token, "?target=st:Shell-qa", [(at_once, work)], until=bool)

    assert [e["data"]["target"] for e in events] == ["st:Shell-qa"]


def test_the_stream_needs_a_token_and_says_what_is_wrong(agent, api_token):
    async def get(path, **headers):
        return await AsyncClient().get(path, headers=headers)

    refused = async_to_sync(get)("/monitor/stream")
    no_target = async_to_sync(get)("/monitor/stream?output=true", authorization=f"Bearer {api_token}")

    assert refused.status_code == 401
    assert no_target.status_code == 400
    assert json.loads(no_target.content)["error_message"] == "output: needs a target (one agent's screen at a time)"


def test_a_followed_screen_arrives_as_the_pane_prints(shell, gateway, watcher, api_token):
    def type_into_the_pane():
        wait_for(lambda: watcher.followed, timeout=5, message="the watcher to learn of the follower")
        gateway.type_text(shell.tmux_pane_id, "echo hello-$((6*7))")
        gateway.send_keys(shell.tmux_pane_id, "Enter")

    events = follow(api_token, f"?target={shell.target}&output=true", [(at_once, type_into_the_pane)],
                    until=lambda e: any("hello-42" in x["data"].get("screen", "") for x in e))

    screens = [e["data"]["screen"] for e in events if e["event"] == "screen"]
    assert any("hello-42" in screen for screen in screens), screens
    assert prompt_shown(gateway, shell)
    assert "hello-42" in PaneScreen.objects.get(agent=shell).ansi  # kept with its colours, for the dashboard


def test_a_browser_logged_in_as_staff_follows_the_stream_and_anyone_else_is_refused(agent):
    """An EventSource sends the session cookie and `Accept: text/event-stream`, nothing else."""
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_user("ana", is_staff=True)
    viewer = get_user_model().objects.create_user("viz")

    async def opened(user):
        browser = AsyncClient()
        await sync_to_async(browser.force_login)(user)
        response = await browser.get("/monitor/stream", headers={"accept": "text/event-stream"})
        first = (await anext(aiter(response.streaming_content))).decode() if response.streaming else ""
        return response, first

    followed, first = async_to_sync(opened)(staff)
    refused, _ = async_to_sync(opened)(viewer)

    assert followed.status_code == 200 and followed["Content-Type"] == "text/event-stream"
    assert "following agents' states" in first
    assert refused.status_code == 401 and json.loads(refused.content)["success"] is False
