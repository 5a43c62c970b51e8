from rest_framework import serializers

from agents.serializers import TMUX_NAME, AgentSerializer, HostField, OperationResultSerializer
from agents.validation import MAX_BRIEFING, MAX_PATH
from orchestrator.serializers import PageQuerySerializer, StrictBooleanField, StrictCharField, StrictSerializer
from teams.models import CoordinationStrategy, Isolation, Standup, StandupReply, Team
from teams.services import MAX_STANDUP_TIMEOUT, STANDUP_TIMEOUT
from teams.templates import MAX_TEAM_SIZE, MemberSpec, get_template


def _session_names(help_text: str):
    return serializers.ListField(child=StrictCharField(max_length=64, validators=[TMUX_NAME]), required=False,
                                 default=list, help_text=help_text)


class RecoverSerializer(StrictSerializer):
    session_names = _session_names("Only agents of these sessions; empty: every session.")
    include_stuck = StrictBooleanField(required=False, default=False,
                                       help_text="Also restart agents flagged stuck.")


class RecoverResultSerializer(serializers.Serializer):
    restarted = OperationResultSerializer(many=True, help_text="Each agent restarted, with how far its restart got.")


class MemberSerializer(StrictSerializer):
    role = StrictCharField(max_length=40, help_text="An agent type: pm, developer, qa, devops, reviewer, ...")
    briefing = StrictCharField(max_length=MAX_BRIEFING, required=False, allow_blank=True, default="")
    skills = serializers.ListField(child=StrictCharField(max_length=60), max_length=30, required=False, default=list)
    profile = StrictCharField(max_length=40, required=False, help_text="The agent program; default from config.")
    host = HostField(help_text="The agent host it runs on, or `auto`; default: the deploy's `host`.")


class DeployTeamSerializer(StrictSerializer):
    project_name = StrictCharField(max_length=64, validators=[TMUX_NAME],
                                   help_text="The team's name, and the tmux session of its agents.")
    project_path = StrictCharField(max_length=MAX_PATH, help_text="Absolute path of the project directory.")
    team_members = MemberSerializer(many=True, required=False, help_text="Who is in the team; or use team_type.")
    team_type = StrictCharField(max_length=40, required=False,
                                help_text="A team template (frontend, backend, fullstack, testing, or from config).")
    size = serializers.IntegerField(min_value=1, max_value=MAX_TEAM_SIZE, required=False, default=3,
                                    help_text="Members taken from the template.")
    profile = StrictCharField(max_length=40, required=False,
                              help_text="With team_type: the agent program of every member; default from config.")
    coordination_strategy = serializers.ChoiceField(choices=CoordinationStrategy.values, required=False,
                                                    default=CoordinationStrategy.HUB_AND_SPOKE)
    isolation = serializers.ChoiceField(choices=Isolation.values, required=False, default=Isolation.NONE,
                                        help_text="worktree: a git worktree and branch per engineer.")
    host = HostField(help_text="The agent host of every member that names none (a template's members may), or "
                               "`auto` to spread them over the live hosts, fewest agents first; default from config "
                               "(`default_host`).")

    def validate(self, data):
        if ("team_members" in data) == ("team_type" in data):
            raise serializers.ValidationError({"team_members": ["give either team_members or team_type"]})
        return data

    @staticmethod
    def members(data: dict) -> tuple[list[MemberSpec], str]:
        """The members the validated payload asks for, and the template's name if any."""
        if "team_type" in data:
            template = get_template(data["team_type"])
            return [MemberSpec(m.role, m.briefing, m.skills, data.get("profile") or m.profile, m.host or data.get("host"))
                    for m in template.members_for(data["size"])], template.name
        return [MemberSpec(m["role"], m["briefing"], tuple(m["skills"]), m.get("profile"), m.get("host") or data.get("host"))
                for m in data["team_members"]], ""


class TeamSerializer(serializers.ModelSerializer):
    members = AgentSerializer(many=True, read_only=True, help_text="Its live agents.")

    class Meta:
        model = Team
        fields = ["id", "name", "project_path", "coordination_strategy", "isolation", "template", "created_by",
                  "created_at", "torn_down_at", "members"]


class DeployResultSerializer(serializers.Serializer):
    team = TeamSerializer()
    started = OperationResultSerializer(many=True, help_text="Each member's spawn.")


class TeamStatusSerializer(serializers.Serializer):
    team = TeamSerializer()
    agents_by_state = serializers.DictField(child=serializers.IntegerField())
    tasks_by_status = serializers.DictField(child=serializers.IntegerField())


class TeamListQuerySerializer(PageQuerySerializer):
    include_torn_down = StrictBooleanField(required=False, default=False)


class BroadcastTeamSerializer(StrictSerializer):
    message = StrictCharField(max_length=200_000, trim_whitespace=False)
    agent_types_only = serializers.ListField(child=StrictCharField(max_length=40), required=False, default=list)
    urgent = StrictBooleanField(required=False, default=False)


class StandupRequestSerializer(StrictSerializer):
    session_names = _session_names("Sessions (teams) to ask; empty: every session.")
    include_idle_agents = StrictBooleanField(required=False, default=True,
                                             help_text="Ask idle agents too (false: only busy ones).")
    timeout_seconds = serializers.IntegerField(min_value=1, max_value=MAX_STANDUP_TIMEOUT, required=False,
                                               default=STANDUP_TIMEOUT,
                                               help_text="How long replies are collected.")
    wait = StrictBooleanField(required=False, default=True,
                              help_text="Answer once the standup is over (false: at once, with its id).")


class StandupReplySerializer(serializers.ModelSerializer):
    target = serializers.CharField(source="agent.target")
    agent_type = serializers.CharField(source="agent.agent_type")
    answered = serializers.SerializerMethodField()

    class Meta:
        model = StandupReply
        fields = ["target", "agent_type", "answered", "text", "source", "answered_at"]

    def get_answered(self, reply) -> bool:
        return reply.answered_at is not None


class StandupSerializer(serializers.ModelSerializer):
    replies = StandupReplySerializer(many=True, read_only=True)
    not_answered = serializers.SerializerMethodField(help_text="Targets of the agents that did not answer.")

    class Meta:
        model = Standup
        fields = ["id", "requested_by", "session_names", "timeout_seconds", "created_at", "finished_at",
                  "replies", "not_answered"]

    def get_not_answered(self, standup) -> list[str]:
        return [reply.agent.target for reply in standup.replies.all() if reply.answered_at is None]
