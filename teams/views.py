"""The coordination and teams API: validate, call one service, render."""


from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from agents.selectors import operation_outcome, operations_wait
from orchestrator.api import paged
from orchestrator.permissions import Caller
from orchestrator.serializers import validated
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
from agents.serializers import MessageSerializer, OperationResultSerializer


def _with_members(team):
    return selectors.team_list(include_torn_down=True).get(pk=team.pk)


class CoordinationViewSet(viewsets.ViewSet):
    @extend_schema(
        operation_id="coordination_recover", summary="Restart the agents that are down",
        request=RecoverSerializer,
        responses={200: RecoverResultSerializer, 404: OpenApiResponse(description="No live agents in a session named.")},
    )
    @action(detail=False, methods=["post"])
    def recover(self, request):
        """Restart, briefed again, every crashed or failed agent (stuck ones too with
        `include_stuck`) of `session_names`, or of every session."""
        caller = Caller.of_request(request)
        data = validated(RecoverSerializer, request.data)
        caller.require_lead("restart agents", sessions=data["session_names"])
        operations = services.agents_recover(session_names=data["session_names"], include_stuck=data["include_stuck"],
                                             requested_by=caller.name)
        restarted = [operation_outcome(op, timeout=0) for op in operations_wait(operations)]
        return Response(RecoverResultSerializer({"restarted": restarted}).data)

    @extend_schema(
        operation_id="coordination_deploy_team", summary="Deploy a team", request=DeployTeamSerializer,
        responses={
            201: DeployResultSerializer,
            409: OpenApiResponse(description="A team of that name is deployed, or its session has live agents."),
            422: OpenApiResponse(description="A member did not start; the team was taken down again."),
        },
    )
    @action(detail=False, methods=["post"], url_path="deploy-team")
    def deploy_team(self, request):
        """Start every member in tmux session `project_name`, each briefed with the team's
        roster and how to reach the others. All or nothing."""
        caller = Caller.of_request(request)
        caller.require_lead("deploy teams")  # a new team: not within a lead's own
        data = validated(DeployTeamSerializer, request.data)
        members, template_name = DeployTeamSerializer.members(data)
        deployment = services.team_deploy(
            name=data["project_name"], project_path=data["project_path"], members=members,
            coordination_strategy=data["coordination_strategy"], isolation=data["isolation"],
            template=template_name, requested_by=caller.name,
        )
        started = [operation_outcome(op, timeout=0) for op in deployment.operations]
        result = {"team": _with_members(deployment.team), "started": started}
        return Response(DeployResultSerializer(result).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="coordination_standup", summary="Hold a standup", request=StandupRequestSerializer,
        responses={200: StandupSerializer, 202: OpenApiResponse(StandupSerializer, description="Started (wait=false)."),
                   404: OpenApiResponse(description="No live agents in a session named, or nobody to ask.")},
    )
    @action(detail=False, methods=["post"])
    def standup(self, request):
        """Ask each agent what it is doing and collect the replies for `timeout_seconds`:
        what it reported through `POST /agents/report`, or else what it wrote on its screen."""
        caller = Caller.of_request(request)
        data = validated(StandupRequestSerializer, request.data)
        caller.require_lead("hold standups", sessions=data["session_names"])
        standup = services.standup_start(
            session_names=data["session_names"], include_idle_agents=data["include_idle_agents"],
            timeout_seconds=data["timeout_seconds"], requested_by=caller.name,
        )
        if data["wait"]:
            services.standup_run(standup=standup)
        standup = selectors.standup_get(standup_id=standup.pk)
        code = status.HTTP_200_OK if standup.finished_at else status.HTTP_202_ACCEPTED
        return Response(StandupSerializer(standup).data, status=code)

    @extend_schema(operation_id="coordination_standup_get", summary="A standup and its replies",
                   parameters=[OpenApiParameter("standup_id", int, OpenApiParameter.PATH)],
                   responses={200: StandupSerializer, 404: OpenApiResponse(description="No such standup.")})
    @action(detail=False, methods=["get"], url_path=r"standup/(?P<standup_id>[0-9]{1,18})")
    def standup_get(self, request, standup_id=None):
        """The standup's replies so far, and who has not answered."""
        standup = selectors.standup_get(standup_id=int(standup_id))
        if standup.finished_at is None:  # take in the replies that came since
            services.standup_collect(standup=standup)
            standup = selectors.standup_get(standup_id=standup.pk)
        return Response(StandupSerializer(standup).data)


NAME = OpenApiParameter("name", str, OpenApiParameter.PATH, description="The team's name (its tmux session).")
NO_TEAM = OpenApiResponse(description="No active team of that name.")


class TeamViewSet(viewsets.ViewSet):
    lookup_field = "name"
    lookup_value_regex = r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}"

    @extend_schema(operation_id="teams_list", summary="List teams", parameters=[TeamListQuerySerializer],
                   responses=TeamSerializer(many=True))
    @action(detail=False, methods=["get"], url_path="list")
    def list_teams(self, request):
        """Active teams with their live members (torn-down ones too with `include_torn_down`)."""
        query = validated(TeamListQuerySerializer, request.query_params)
        return paged(request, selectors.team_list(include_torn_down=query["include_torn_down"]), query, TeamSerializer)

    @extend_schema(operation_id="teams_status", summary="A team's status", parameters=[NAME],
                   responses={200: TeamStatusSerializer, 404: NO_TEAM})
    def retrieve(self, request, name=None):
        """The team, its members and their states, and its tasks counted by status."""
        team = selectors.team_get(name=name)
        data = selectors.team_status(team=team)
        return Response(TeamStatusSerializer({**data, "team": _with_members(team)}).data)

    @extend_schema(operation_id="teams_broadcast", summary="Send a message to a team", parameters=[NAME],
                   request=BroadcastTeamSerializer,
                   responses={201: MessageSerializer(many=True), 404: NO_TEAM})
    @action(detail=True, methods=["post"])
    def broadcast(self, request, name=None):
        """Queue the message for every live member (only `agent_types_only`, if given)."""
        team = selectors.team_get(name=name)
        caller = Caller.of_request(request)
        caller.require_sessions_of_team([team.name])
        data = validated(BroadcastTeamSerializer, request.data)
        messages = services.team_broadcast(team=team, body=data["message"], agent_types=data["agent_types_only"],
                                           urgent=data["urgent"], sender=caller.name, sent_with=caller.token)
        return Response(MessageSerializer(messages, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="teams_teardown", summary="Tear a team down", parameters=[NAME], request=None,
                   responses={200: OperationResultSerializer(many=True), 404: NO_TEAM})
    @action(detail=True, methods=["post"])
    def teardown(self, request, name=None):
        """Kill every member (worktrees removed, branches kept) and end the team."""
        caller = Caller.of_request(request)
        team = selectors.team_get(name=name)
        caller.require_lead("tear teams down", sessions=[team.name])
        kills = services.team_teardown(team=team, requested_by=caller.name)
        return Response(OperationResultSerializer([operation_outcome(op, timeout=0) for op in kills], many=True).data)
