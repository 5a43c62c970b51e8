"""Every declared operation, called through REST and through MCP over HTTP, the same way:
the same input is accepted (or refused with the same words) and gives the same data."""

import asyncio
import re

import httpx2
import pytest
from mcp import Client

from agents.models import Agent, AgentState, Message
from orchestrator.operations import all_operations
from orchestrator.tests.test_mcp import over_http
from tasks.models import Task
from teams.models import Team

pytestmark = pytest.mark.django_db(transaction=True)

# Values that differ between two calls that did the same thing: ids, times, who asked.
VOLATILE = re.compile(r"(^id$|_at$|_since$|^timestamp$|^not_before$|^created$|_id$|^requested_by$|^sender$|^by$|"
                      r"^response_time_ms$|^duration|seconds$|^uptime|^restarts$|^checks$|^operation$|^last_heartbeat$|^load$|^sweep_ms$)")


def world():
    """A team of three (one stopped) and a loner, a task, a queued message: nothing here
    needs a worker."""
    shop = Team.objects.create(name="shop", project_path="/tmp")
    fields = {"profile": "shell", "project_path": "/tmp", "host": "test-host", "state": AgentState.IDLE}
    dev = Agent.objects.create(name="dev", session_name="shop", agent_type="developer", team=shop, **fields)
    Agent.objects.create(name="qa", session_name="shop", agent_type="qa", team=shop, **fields)
    Agent.objects.create(name="gone", session_name="shop", agent_type="qa", team=shop,
                         **{**fields, "state": AgentState.STOPPED})
    Agent.objects.create(name="solo", session_name="blog", agent_type="developer", **fields)
    task = Task.objects.create(title="Login form", status="assigned", assigned_to=dev, team=shop)
    message = Message.objects.create(agent=dev, body="queued for later", sender="someone")
    return {"task": task.pk, "message": message.pk}


# One call per operation (some make two): what both interfaces are given. A new operation
# must be added here; the test says so.
def calls(ids) -> dict[str, list[dict]]:
    return {
        "agents_spawn": [{"session_name": "shop", "agent_type": "developer", "project_path": "/no/such/dir"},
                         {"session_name": "shop", "agent_type": "wizard", "project_path": "/tmp"}],
        "agents_status": [{"target": "shop:dev"}, {"target": "shop:dev", "explain": True}],
        "agents_list": [{}, {"include_stopped": True, "limit": 2}],
        "agents_restart": [{"target": "shop:nobody"}],
        "agents_kill": [{"target": "shop:gone"}],
        "agents_report": [{"target": "shop:dev", "text": "Halfway there."}, {"text": "no target"}],
        "agents_approve": [{"target": "shop:gone"}],
        "agents_deny": [{"target": "shop:gone"}],
        "messages_send": [{"target": "shop:qa", "message": "hello; there\n"}, {"target": "shop:gone", "message": "x"}],
        "messages_broadcast": [{"sessions": ["blog"], "message": "all hands"}],
        "messages_schedule": [{"target": "shop:qa", "message": "check in", "minutes": 30}],
        "messages_scheduled": [{}],
        "messages_cancel": [{"id": ids["message"]}, {"id": 99999}],
        "messages_history": [{"target": "shop:dev"}, {"target": "shop:dev", "limit": 0}],
        "messages_status": [{"id": ids["message"]}],
        "coordination_recover": [{"session_names": ["shop"]}],
        "coordination_deploy_team": [{"project_name": "new", "project_path": "/tmp", "team_type": "mobile"}],
        "coordination_standup": [{"session_names": ["nosuch"]}],
        "coordination_standup_get": [{"standup_id": 424242}],
        "teams_list": [{}, {"include_torn_down": True}],
        "teams_status": [{"name": "shop"}, {"name": "nosuch"}],
        "teams_broadcast": [{"name": "shop", "message": "team note", "agent_types_only": ["qa"]}],
        "teams_teardown": [{"name": "nosuch"}],
        "tasks_create": [{"title": "Write tests", "priority": "high", "tags": ["qa"]}],
        "tasks_list": [{}, {"status": "assigned", "limit": 1}],
        "tasks_get": [{"id": ids["task"]}],
        "tasks_update": [{"id": ids["task"], "title": "renamed", "status": "done"}, {"id": ids["task"]}],
        "tasks_assign": [{"id": ids["task"], "target": "shop:gone"}],
        "tasks_status": [{"id": ids["task"], "status": "cancelled", "note": "not now"}],
        "monitor_health": [{}, {"checks": "database,beat"}, {"checks": "disk"}],
        "monitor_hosts": [{}],
        "monitor_status": [{}],
        "monitor_metrics": [{}],
        "monitor_agents_performance": [{}],
        "monitor_agents_idle": [{"min_minutes": 0}],
    }


def through_rest(base: str, token: str, name: str, arguments: dict):
    op = all_operations()[name]
    given = dict(arguments)
    path = op.path.format(**{p.name: given.pop(p.name) for p in op.params})
    query_fields = set(op.query().fields) if op.query else set()
    if op.method == "GET":
        query, body = given, None
    else:
        query = {k: v for k, v in given.items() if k in query_fields}
        body = {k: v for k, v in given.items() if k not in query_fields}
    query = {k: ("true" if v is True else "false" if v is False else v) for k, v in query.items()}
    answer = httpx2.request(op.method, base + path, params=query, json=body if op.body else None,
                            headers={"Authorization": f"Bearer {token}"}, timeout=60).json()
    return ("error", answer["error_message"]) if not answer["success"] else ("data", answer["data"])


def through_mcp(base: str, token: str, name: str, arguments: dict):
    async def session():
        async with Client(over_http(base, token), read_timeout_seconds=60) as client:
            return await client.call_tool(name, arguments)

    result = asyncio.run(session())
    if result.is_error:
        text = " ".join(block.text for block in result.content)
        return "error", text.removeprefix(f"Error executing tool {name}: ")
    content = result.structured_content
    return "data", content["result"] if set(content) == {"result"} else content


def steady(value):
    """The data with what differs between two equal calls blanked out."""
    if isinstance(value, dict):
        return {k: "~" if VOLATILE.search(k) else steady(v) for k, v in value.items()}
    if isinstance(value, list):
        return [steady(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"#\d+", "#~", value)  # "task #75", as a row of the world built again
    return value


def test_every_operation_has_a_call_here(db):
    assert set(calls({"task": 1, "message": 1})) == set(all_operations())


def test_rest_and_mcp_accept_the_same_input_and_give_the_same_data(http_server, api_token):
    """Each call is made twice, each time on the world built afresh: once through REST and
    once through MCP. Both refuse it with the same message, or both give the same data."""
    for name, cases in calls({"task": 0, "message": 0}).items():
        for n in range(len(cases)):
            rest = through_rest(http_server, api_token, name, calls(_rebuild())[name][n])
            mcp = through_mcp(http_server, api_token, name, calls(_rebuild())[name][n])
            assert rest[0] == mcp[0], (name, n, rest, mcp)
            assert steady(rest[1]) == steady(mcp[1]), (name, n, rest, mcp)


def _rebuild() -> dict:
    """The world again, as it was before any call (the token stays); the ids of its rows."""
    from teams.models import Standup

    for model in (Standup, Message, Task, Agent, Team):
        model.objects.all().delete()
    return world()
