"""MCP with the SDK's own client: over stdio (`tmux-orc mcp`) and Streamable HTTP (/mcp)."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from django.conf import settings
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from agents.models import Agent, AgentReport, AgentState, Message, MessageStatus
from conftest import TEST_CONFIG, prompt_shown, wait_for
from monitoring.services import host_sweep
from orchestrator.operations import all_operations
from orchestrator.services import agent_token_issue, token_create
from teams.models import Team

pytestmark = pytest.mark.django_db(transaction=True)

TMUX_ORC = Path(sys.executable).parent / "tmux-orc"


def stdio(url: str, token: str, **env) -> StdioServerParameters:
    """`tmux-orc mcp`, a client of the service at `url` (this test's), as `token`'s owner. It
    is given no database: every call goes through the REST API."""
    passed = {k: os.environ[k] for k in ("PATH", "HOME", "TMUX_TMPDIR") if k in os.environ}
    passed.update(TMUX_ORC_URL=url, TMUX_ORC_TOKEN=token, TMUX_ORC_DATA_DIR=str(settings.DATA_DIR),
                  TMUX_ORC_CONFIG=str(TEST_CONFIG), **env)
    return StdioServerParameters(command=str(TMUX_ORC), args=["mcp"], env=passed)


def call(server, *calls: tuple[str, dict]):
    """Connect with the SDK's client, make the calls in order, return their results."""
    async def session():
        async with Client(server, read_timeout_seconds=60) as client:
            return [await client.call_tool(name, args) for name, args in calls]

    return asyncio.run(session())


def text(result) -> str:
    return " ".join(block.text for block in result.content)


def team_of_two():
    shop = Team.objects.create(name="shop", project_path="/tmp")
    fields = {"profile": "shell", "project_path": "/tmp", "host": "test-host", "state": AgentState.IDLE, "team": shop}
    return (Agent.objects.create(name="dev", session_name="shop", agent_type="developer", **fields),
            Agent.objects.create(name="qa", session_name="shop", agent_type="qa", **fields))


# --- stdio ---------------------------------------------------------------------------------


def test_stdio_lists_every_tool_with_a_schema_and_a_description(http_server, api_token):
    async def listed():
        async with Client(stdio(http_server, api_token), read_timeout_seconds=60) as client:
            return (await client.list_tools()).tools

    tools = {tool.name: tool for tool in asyncio.run(listed())}

    assert set(tools) == set(all_operations())
    assert all(tool.description for tool in tools.values())
    send = tools["messages_send"].input_schema
    assert sorted(send["required"]) == ["message", "target"]
    assert send["properties"]["urgent"]["type"] == "boolean"
    assert "session:window" in send["properties"]["target"]["description"]
    assert tools["tasks_create"].input_schema["properties"]["priority"]["enum"] == ["low", "medium", "high", "critical"]


def test_stdio_invalid_arguments_come_back_as_tool_errors(http_server, api_token):
    bad_target, bad_type, unknown = call(stdio(http_server, api_token), ("agents_status", {"target": "no-colon"}),
                                         ("tasks_update", {"id": "seven"}), ("agents_status", {"target": "x:y"}))

    assert bad_target.is_error and "target: not 'session:window'" in text(bad_target)
    assert bad_type.is_error and "id: required: a whole number" in text(bad_type)
    assert unknown.is_error and text(unknown).endswith("no agent at x:y")


def test_stdio_with_an_agent_token_is_refused_where_it_must_be(http_server):
    dev, qa = team_of_two()
    outsider = Agent.objects.create(name="dev", session_name="blog", agent_type="developer", profile="shell",
                                    project_path="/tmp", host="test-host", state=AgentState.IDLE)

    kill, spawn, foreign, report = call(
        stdio(http_server, agent_token_issue(agent=dev)),
        ("agents_kill", {"target": qa.target}),
        ("agents_spawn", {"session_name": "x", "agent_type": "developer", "project_path": "/tmp"}),
        ("messages_send", {"target": outsider.target, "message": "hi"}),
        ("agents_report", {"text": "Halfway through the login form."}),
    )

    assert kill.is_error and "shop:dev (developer) cannot kill agents" in text(kill)
    assert spawn.is_error and "cannot spawn agents" in text(spawn)
    assert foreign.is_error and "not in the team of shop:dev" in text(foreign)
    assert not report.is_error
    assert AgentReport.objects.get(agent=dev).text == "Halfway through the login form."
    assert Agent.objects.get(pk=qa.pk).state == AgentState.IDLE and not Message.objects.exists()


def test_stdio_stops_honouring_a_token_revoked_while_it_runs(http_server):
    dev, _ = team_of_two()
    token = agent_token_issue(agent=dev)

    async def session():
        async with Client(stdio(http_server, token), read_timeout_seconds=60) as client:
            before = await client.call_tool("agents_list", {})
            await asyncio.to_thread(agent_token_issue, agent=dev)  # a restart gives it a new one, revoking this
            after = await client.call_tool("agents_list", {})
            return before, after

    before, after = asyncio.run(session())

    assert not before.is_error
    assert after.is_error and "refused the token from TMUX_ORC_TOKEN" in text(after)


def test_tools_do_what_their_endpoints_do(http_server, api_token):
    from tasks.models import Task

    dev, _ = team_of_two()
    Task.objects.create(title="one", status="assigned", assigned_to=dev)
    task = Task.objects.create(title="two", status="assigned", assigned_to=dev)

    page, refused_move, still = call(
        stdio(http_server, api_token), ("tasks_list", {"limit": 1}),
        ("tasks_update", {"id": task.pk, "title": "renamed", "status": "done"}),
        ("tasks_list", {"assigned_to": dev.target, "status": "assigned"}),
    )

    assert page.structured_content["count"] == 2 and len(page.structured_content["tasks"]) == 1
    assert refused_move.is_error and "it can move to" in text(refused_move)
    assert Task.objects.get(pk=task.pk).title == "two"  # the refused move took the rename back with it
    assert still.structured_content["count"] == 2


def test_stdio_with_a_revoked_token_does_not_start(http_server):
    dev, _ = team_of_two()
    token = agent_token_issue(agent=dev)
    agent_token_issue(agent=dev)  # a new one revokes it

    params = stdio(http_server, token)
    result = subprocess.run([params.command, *params.args], env=params.env, capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL)

    assert result.returncode != 0
    assert "the service refused the token from TMUX_ORC_TOKEN" in result.stderr


@pytest.mark.e2e
def test_a_message_sent_over_stdio_arrives_in_a_real_pane(api, api_token, http_server, worker, gateway, project_dir):
    spawned = api.post("/agents/spawn", {"session_name": "mcp", "agent_type": "developer",
                                         "project_path": project_dir, "profile": "shell"}, format="json")
    assert spawned.status_code == 201, (spawned.json(), worker.text)
    agent = Agent.objects.get(session_name="mcp")
    wait_for(lambda: prompt_shown(gateway, agent), message="the shell prompt")

    def idle():
        host_sweep(host=settings.TMUX_ORC.agent_host)
        return Agent.objects.get(pk=agent.pk).state == AgentState.IDLE

    wait_for(idle, message="the agent idle")

    (sent,) = call(stdio(http_server, api_token), ("messages_send", {"target": agent.target, "message": "echo over-$((40+2))-stdio",
                                              "wait": 60}))

    assert not sent.is_error, text(sent)
    assert sent.structured_content["status"] == MessageStatus.DELIVERED, sent.structured_content
    screen = lambda: gateway.capture_panes([agent.tmux_pane_id])[agent.tmux_pane_id]  # noqa: E731
    wait_for(lambda: "over-42-stdio" in screen(), message="the command's output in the pane", describe=screen)


# --- Streamable HTTP -------------------------------------------------------------------------


def over_http(url: str, token: str):
    return streamable_http_client(f"{url}/mcp", http_client=httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, timeout=60))


def test_http_without_a_token_is_401_with_the_header_the_spec_asks_for(http_server, api_token):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"Accept": "application/json, text/event-stream"}

    response = httpx2.post(f"{http_server}/mcp", json=body, headers=accept)

    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'resource_metadata="' in challenge
    for query in ({"token": api_token}, {"access_token": api_token}):
        assert httpx2.post(f"{http_server}/mcp", params=query, json=body, headers=accept).status_code == 401
    wrong = httpx2.post(f"{http_server}/mcp", json=body, headers={**accept, "Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_http_refuses_a_foreign_origin(http_server, api_token, monkeypatch):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {api_token}"}
    port = http_server.rsplit(":", 1)[1]

    def status(origin, host=None):
        extra = {"Origin": origin, **({"Host": host} if host else {})}
        return httpx2.post(f"{http_server}/mcp", json=body, headers={**headers, **extra}).status_code

    foreign = httpx2.post(f"{http_server}/mcp", json=body, headers={**headers, "Origin": "https://evil.example"})
    assert foreign.status_code == 403 and "Origin 'https://evil.example' is not allowed" in foreign.text
    assert status(http_server) == 200  # the service's own page
    assert status(f"https://127.0.0.1:{port}") == 403  # another scheme is another origin
    assert status("null") == 403
    # DNS rebinding: a site's name pointed at this machine is the same origin, but not a host we serve
    assert status(f"http://rebound.example:{port}", host=f"rebound.example:{port}") == 403
    monkeypatch.setattr(settings.TMUX_ORC, "mcp_allowed_origins", ["http://inspector.local:6274"])
    assert status("http://inspector.local:6274") == 200


def test_http_lists_the_tools_and_returns_bad_arguments_as_tool_errors(http_server, api_token):
    async def session():
        async with Client(over_http(http_server, api_token), read_timeout_seconds=60) as client:
            tools = (await client.list_tools()).tools
            bad = await client.call_tool("messages_send", {"target": "not a target", "message": "hi"})
            return tools, bad

    tools, bad = asyncio.run(session())

    assert {tool.name for tool in tools} == set(all_operations())
    assert next(t for t in tools if t.name == "agents_kill").input_schema["required"] == ["target"]
    assert bad.is_error and "target: not 'session:window'" in text(bad)


def test_a_message_sent_over_http_arrives_in_a_real_pane(http_server, shell, gateway):
    _, token = token_create(name="mcp-user")

    sent, history = call(over_http(http_server, token),
                         ("messages_send", {"target": shell.target, "message": "echo over-$((40+2))-http"}),
                         ("messages_history", {"target": shell.target}))

    assert not sent.is_error, text(sent)
    message = Message.objects.get(pk=sent.structured_content["id"])
    assert message.sender == "token:mcp-user" and message.sent_with.name == "mcp-user"
    wait_for(lambda: Message.objects.get(pk=message.pk).status == MessageStatus.DELIVERED, message="delivery")
    screen = lambda: gateway.capture_panes([shell.tmux_pane_id])[shell.tmux_pane_id]  # noqa: E731
    wait_for(lambda: "over-42-http" in screen(), message="the output in the pane", describe=screen)
    assert not history.is_error


def test_http_with_an_agent_token_is_refused_where_it_must_be(http_server):
    dev, qa = team_of_two()

    kill, listed = call(over_http(http_server, agent_token_issue(agent=dev)),
                        ("agents_kill", {"target": qa.target}), ("agents_list", {}))

    assert kill.is_error and "cannot kill agents" in text(kill)
    assert not listed.is_error
    assert [a["target"] for a in listed.structured_content["result"]] == ["shop:dev", "shop:qa"]


# --- an agent given the server -------------------------------------------------------------


@pytest.mark.timeout(240)
def test_claude_code_is_given_the_server_and_reports_through_it(http_server, claude_profile, stub, project_dir,
                                                               gateway, eager_jobs, monkeypatch):
    """Claude Code, spawned by the orchestrator, connects to /mcp with its own token, and a
    tool call it makes lands as that agent's report."""
    from agents import services
    from agents.services import agent_answer_prompt

    monkeypatch.setattr(settings.TMUX_ORC, "agent_mcp", True)
    monkeypatch.setattr(settings.TMUX_ORC, "public_url", http_server)
    operation = services.agent_spawn(session_name="cc", agent_type="developer", project_path=project_dir,
                                     profile=claude_profile, briefing="Report your status when asked.")
    agent = Agent.objects.get(pk=operation.agent_id)

    def sweep_until(condition, message):
        def check():
            host_sweep(host=settings.TMUX_ORC.agent_host)
            return condition()
        wait_for(check, timeout=90, message=message,
                 describe=lambda: gateway.capture_panes([agent.tmux_pane_id])[agent.tmux_pane_id][-1500:])

    from orchestrator.models import ApiToken

    token = ApiToken.objects.get(agent=agent, revoked_at=None)
    sweep_until(lambda: stub.turns() and any(b'"tools/list"' in body for body in http_server.mcp_bodies),
                "the briefing's turn, and Claude Code listing the tools at /mcp")
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None  # with the agent's own token
    sweep_until(lambda: Agent.objects.get(pk=agent.pk).state == AgentState.IDLE, "idle after the briefing")

    stub.reply_tool("mcp__tmux-orchestrator__agents_report", {"text": "Reviewing the login form."})
    stub.reply_text("Reported.")
    services.message_send(agent=agent, body="Report your status through the orchestrator.")
    sweep_until(lambda: Agent.objects.get(pk=agent.pk).state == AgentState.WAITING_APPROVAL
                or AgentReport.objects.exists(), "the tool call (or its permission prompt)")
    if not AgentReport.objects.exists():
        agent_answer_prompt(agent=Agent.objects.get(pk=agent.pk), approve=True)
    sweep_until(lambda: AgentReport.objects.filter(agent=agent).exists(), "the report")
    assert AgentReport.objects.get(agent=agent).text == "Reviewing the login form."
    offered = {tool["name"] for tool in stub.turns()[-1]["tools"]}
    assert "mcp__tmux-orchestrator__messages_send" in offered, sorted(offered)
