"""The teams' operations, declared once (see orchestrator.operations): deploy, status, list,
broadcast, teardown, recover, and standups with their replies."""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import status

from agents.selectors import operation_outcome, operations_wait
from agents.serializers import MessageSerializer, OperationResultSerializer
from orchestrator.operations import PathParam, Result, operation, page
from teams import selectors, services
from teams.serializers import (
    BroadcastTeamSerializer,
    DeployResultSerializer,
    DeployTeamSerializer,
    RecoverResultSerializer,
    RecoverSerializer,
    StandupRequestSerializer,
    StandupSerializer,
    TeamListQuerySerializer,
    TeamSerializer,
    TeamStatusSerializer,
)

TEAM = PathParam("name", str, r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}", "The team's name (its tmux session).")
STANDUP = PathParam("standup_id", int, r"[0-9]{1,18}", "The standup's id.")
NO_TEAM = OpenApiResponse(description="No active team of that name.")


def _with_members(team):
    return selectors.team_list(include_torn_down=True).get(pk=team.pk)


@operation("coordination_recover", "POST", "/coordination/recover", summary="Restart the agents that are down",
           body=RecoverSerializer,
           responses={200: RecoverResultSerializer, 404: OpenApiResponse(description="No live agents in a session named.")})
def coordination_recover(caller, data):
    """Restart, briefed again, every crashed or failed agent (stuck ones too with
    `include_stuck`) of `session_names`, or of every session."""
    caller.require_lead("restart agents", sessions=data["session_names"])
    operations = services.agents_recover(session_names=data["session_names"], include_stuck=data["include_stuck"],
                                         requested_by=caller.name)
    restarted = [operation_outcome(op, timeout=0) for op in operations_wait(operations)]
    return RecoverResultSerializer({"restarted": restarted}).data


@operation("coordination_deploy_team", "POST", "/coordination/deploy-team", summary="Deploy a team",
           body=DeployTeamSerializer, ok=201,
           responses={201: DeployResultSerializer,
                      409: OpenApiResponse(description="A team of that name is deployed, or its session has live agents."),
                      422: OpenApiResponse(description="A member did not start; the team was taken down again.")})
def coordination_deploy_team(caller, data):
    """Start every member in tmux session `project_name`, each briefed with the team's roster
    and how to reach the others. All or nothing."""
    caller.require_lead("deploy teams")  # a new team: not within a lead's own
    members, template_name = DeployTeamSerializer.members(data)
    deployment = services.team_deploy(
        name=data["project_name"], project_path=data["project_path"], members=members,
        coordination_strategy=data["coordination_strategy"], isolation=data["isolation"],
        template=template_name, requested_by=caller.name,
    )
    started = [operation_outcome(op, timeout=0) for op in deployment.operations]
    return DeployResultSerializer({"team": _with_members(deployment.team), "started": started}).data


@operation("coordination_standup", "POST", "/coordination/standup", summary="Hold a standup",
           body=StandupRequestSerializer,
           responses={200: StandupSerializer, 202: OpenApiResponse(StandupSerializer, description="Started (wait=false)."),
                      404: OpenApiResponse(description="No live agents in a session named, or nobody to ask.")})
def coordination_standup(caller, data):
    """Ask each agent what it is doing and collect the replies for `timeout_seconds`: what it
    reported with agents_report, or else what it wrote on its screen; lists who did not
    answer."""
    caller.require_lead("hold standups", sessions=data["session_names"])
    standup = services.standup_start(
        session_names=data["session_names"], include_idle_agents=data["include_idle_agents"],
        timeout_seconds=data["timeout_seconds"], requested_by=caller.name,
    )
    if data["wait"]:
        services.standup_run(standup=standup)
    standup = selectors.standup_get(standup_id=standup.pk)
    return Result(StandupSerializer(standup).data, status.HTTP_200_OK if standup.finished_at else status.HTTP_202_ACCEPTED)


@operation("coordination_standup_get", "GET", "/coordination/standup/{standup_id}",
           summary="A standup and its replies", params=(STANDUP,),
           responses={200: StandupSerializer, 404: OpenApiResponse(description="No such standup.")})
def coordination_standup_get(caller, data):
    """The standup's replies so far, and who has not answered."""
    standup = selectors.standup_get(standup_id=data["standup_id"])
    if standup.finished_at is None:  # take in the replies that came since
        services.standup_collect(standup=standup)
        standup = selectors.standup_get(standup_id=standup.pk)
    return StandupSerializer(standup).data


@operation("teams_list", "GET", "/teams/list", summary="List teams", query=TeamListQuerySerializer,
           responses={200: TeamSerializer(many=True)})
def teams_list(caller, query):
    """Active teams with their live members (torn-down ones too with `include_torn_down`)."""
    return page(selectors.team_list(include_torn_down=query["include_torn_down"]), query, TeamSerializer)


@operation("teams_status", "GET", "/teams/{name}", summary="A team's status", params=(TEAM,),
           responses={200: TeamStatusSerializer, 404: NO_TEAM})
def teams_status(caller, data):
    """The team, its members and their states, and its tasks counted by status."""
    team = selectors.team_get(name=data["name"])
    return TeamStatusSerializer({**selectors.team_status(team=team), "team": _with_members(team)}).data


@operation("teams_broadcast", "POST", "/teams/{name}/broadcast", summary="Send a message to a team", params=(TEAM,),
           body=BroadcastTeamSerializer, ok=201, responses={201: MessageSerializer(many=True), 404: NO_TEAM})
def teams_broadcast(caller, data):
    """Queue the message for every live member (only `agent_types_only`, if given)."""
    team = selectors.team_get(name=data["name"])
    caller.require_sessions_of_team([team.name])
    messages = services.team_broadcast(team=team, body=data["message"], agent_types=data["agent_types_only"],
                                       urgent=data["urgent"], sender=caller.name, sent_with=caller.token)
    return MessageSerializer(messages, many=True).data


@operation("teams_teardown", "POST", "/teams/{name}/teardown", summary="Tear a team down", params=(TEAM,),
           responses={200: OperationResultSerializer(many=True), 404: NO_TEAM})
def teams_teardown(caller, data):
    """Kill every member (worktrees removed, branches kept) and end the team."""
    team = selectors.team_get(name=data["name"])
    caller.require_lead("tear teams down", sessions=[team.name])
    kills = services.team_teardown(team=team, requested_by=caller.name)
    return OperationResultSerializer([operation_outcome(op, timeout=0) for op in kills], many=True).data
