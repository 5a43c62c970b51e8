"""Schemathesis over /openapi.json against the web server (uvicorn, as `server start` runs
it), with no token, an agent's token and a person's token: no 5xx, no response the schema
does not describe, and no success without the right token."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from agents.models import Agent, AgentState
from orchestrator.operations import all_operations
from orchestrator.services import agent_token_issue, token_create
from teams.models import Team

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# What an agent that is no lead is never let do (it has no task of its own here either).
LEADS_ONLY = {"agents_spawn", "agents_restart", "agents_kill", "agents_approve", "agents_deny",
              "coordination_recover", "coordination_deploy_team", "coordination_standup", "teams_teardown",
              "tasks_create", "tasks_assign", "tasks_update", "tasks_status"}


@pytest.fixture
def tokens(db) -> dict[str, str | None]:
    team = Team.objects.create(name="shop", project_path="/tmp")
    dev = Agent.objects.create(name="dev", session_name="shop", agent_type="developer", profile="shell", team=team,
                               project_path="/tmp", host="test-host", state=AgentState.IDLE)
    return {"none": None, "agent": agent_token_issue(agent=dev), "person": token_create(name="fuzz")[1]}


@pytest.fixture
def served(http_server, tokens, monkeypatch):
    """The server's schema; operations answer without waiting for a worker there is not,
    and a standup ends as soon as it has asked (nobody here answers)."""
    import agents.operations
    import agents.selectors
    import teams.services

    for module in (agents.operations, agents.selectors):
        monkeypatch.setattr(module, "wait_timeout", lambda agent_type: 0)
    monkeypatch.setattr(teams.services, "standup_run",
                        lambda *, standup, poll=0.5: teams.services.standup_finish(standup=standup))
    return schemathesis.openapi.from_url(f"{http_server}/openapi.json",
                                         headers={"Authorization": f"Bearer {tokens['person']}"})


def _no_long_waits(case) -> None:
    """`?wait=` holds a request as long as asked: keep each call short."""
    if isinstance(case.query, dict) and "wait" in case.query:
        case.query["wait"] = 0


# The same examples on every run, so a red run is the change's; TMUX_ORC_FUZZ_RANDOM=1 explores.
FUZZ = hypothesis_settings(max_examples=20, deadline=None, derandomize=not os.environ.get("TMUX_ORC_FUZZ_RANDOM"),
                           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                  HealthCheck.filter_too_much])


def _call_as(case, who: str, tokens: dict) -> None:
    _no_long_waits(case)
    token = tokens[who]
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    response = case.call(headers=headers)

    name = case.operation.definition.raw.get("operationId")
    unhealthy = name == "monitor_health" and response.status_code == 503  # no worker or beat here: it says so
    case.validate_response(response, checks=[c for c in CHECKS if not (unhealthy and c is not_a_server_error)])
    public = name in all_operations() and all_operations()[name].public
    if who == "none" and not public:  # refused, or (an id past 18 digits) no such endpoint
        assert response.status_code in (401, 404), (name, response.status_code, response.text[:300])
        assert response.status_code == 401 or "no such endpoint" in response.text, response.text[:300]
    if who == "agent" and name in LEADS_ONLY:
        assert not 200 <= response.status_code < 300, (name, response.status_code, response.text[:300])


def _fuzz(schema, who: str, tokens: dict) -> None:
    """Every operation of the schema, with the examples Hypothesis makes from it."""
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > len(all_operations())  # every declared operation, the hook and the stream too
    for operation in operations:
        if operation.path == "/monitor/stream":
            continue  # it streams until the client goes: tests/test_smoke.py and monitoring/tests cover it

        @FUZZ
        @given(case=operation.as_strategy())
        def each(case):
            _call_as(case, who, tokens)

        each()


def test_without_a_token_only_health_answers(served, tokens):
    _fuzz(served, "none", tokens)


def test_an_agent_token_gets_no_lead_operation(served, tokens):
    _fuzz(served, "agent", tokens)


def test_a_person_token_gets_no_5xx_and_nothing_outside_the_schema(served, tokens):
    _fuzz(served, "person", tokens)
