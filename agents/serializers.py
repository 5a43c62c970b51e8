from rest_framework import serializers

from agents.hooks import HOOK_TRUSTED_FOR
from agents.hosts import HOST_RE, live_hosts
from agents.models import Agent, AgentOperation, AgentState, Message, Signal
from agents.profiles import all_profiles
from agents.roles import all_agent_types
from django.core.validators import RegexValidator

from agents.validation import MAX_BRIEFING, MAX_PATH, NAME_RE, NAME_RULE, TARGET_RE
from orchestrator.config import HOST_RULE
from orchestrator.serializers import PageQuerySerializer, StrictBooleanField, StrictCharField, StrictSerializer


TMUX_NAME = RegexValidator(NAME_RE, f"not a usable tmux name; use {NAME_RULE}")
TARGET = RegexValidator(TARGET_RE, f"not 'session:window' ({NAME_RULE} on each side)")


HOST_NAME = RegexValidator(HOST_RE, f"not a host name: use {HOST_RULE}, or 'auto'")


class HostField(StrictCharField):
    """Where an agent runs: a host name, or `auto`; the default from config (`default_host`)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "The agent host whose worker runs it, or `auto` for the live host with the "
                                       "fewest agents; default from config (`default_host`, TMUX_ORC_DEFAULT_HOST).")
        super().__init__(max_length=64, required=False, validators=[HOST_NAME], **kwargs)


class SpawnSerializer(StrictSerializer):
    session_name = StrictCharField(max_length=64, validators=[TMUX_NAME], help_text="tmux session; created if missing.")
    agent_type = serializers.ChoiceField(choices=[], help_text="A built-in or custom agent type.")
    project_path = StrictCharField(max_length=MAX_PATH, help_text="Absolute path of an existing directory.")
    briefing_message = StrictCharField(
        max_length=MAX_BRIEFING, required=False, allow_blank=True, default="",
        help_text="The agent's briefing; the type's default briefing when empty.",
    )
    profile = serializers.ChoiceField(
        choices=[], required=False, help_text="The agent program; default from config (`default_profile`)."
    )
    name = StrictCharField(
        max_length=64, required=False, validators=[TMUX_NAME], help_text="Window name; default <Profile>-<agent_type>."
    )
    host = HostField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Choices come from config, so they are read when the serializer is made.
        for field, known in (("agent_type", all_agent_types()), ("profile", all_profiles())):
            self.fields[field].choices = sorted(known)
            self.fields[field].error_messages["invalid_choice"] = (
                f"unknown {field.replace('_', ' ')} {{input!r}}; known: {', '.join(sorted(known))}"
            )


class TargetSerializer(StrictSerializer):
    target = StrictCharField(max_length=129, validators=[TARGET], help_text="session:window")


class RestartSerializer(TargetSerializer):
    resume = StrictBooleanField(required=False, default=True,
                                help_text="Continue the program's last conversation where its profile says how "
                                          "(resume_args); false: start it fresh and brief it again.")


class StatusQuerySerializer(TargetSerializer):
    include_activity = StrictBooleanField(required=False, default=False)
    explain = StrictBooleanField(required=False, default=False,
                                 help_text="Say how the state was arrived at: signal, screen read, last hook.")


class ListQuerySerializer(PageQuerySerializer):
    session_name = StrictCharField(max_length=64, required=False, allow_blank=True, help_text="Only this session.")
    include_stopped = StrictBooleanField(required=False, default=False)


class AgentSerializer(serializers.ModelSerializer):
    session = serializers.CharField(source="session_name")
    window = serializers.CharField(source="name")
    team = serializers.CharField(source="team.name", read_only=True, allow_null=True, help_text="Team name, if any.")
    host_down = serializers.SerializerMethodField(
        help_text="The agent is live but its host's worker is not: its state is the last one seen, and what is "
                  "asked of it waits for the host to come back.")

    class Meta:
        model = Agent
        fields = [
            "id", "target", "session", "window", "agent_type", "profile", "team", "project_path", "host", "host_down",
            "state", "state_reason", "state_changed_at", "tmux_session_id", "tmux_window_id", "tmux_pane_id",
            "pane_pid", "restart_count", "created_at", "started_at", "stopped_at", "last_activity_at",
        ]


    def get_host_down(self, agent: Agent) -> bool:
        if agent.state == AgentState.STOPPED:
            return False
        live = self.context.setdefault("live_hosts", set(live_hosts()))  # once for a whole list
        return agent.host not in live


class OperationSerializer(serializers.ModelSerializer):
    class Meta:
        model = AgentOperation
        fields = ["id", "kind", "status", "error", "created_at", "started_at", "finished_at"]


class OperationResultSerializer(AgentSerializer):
    operation = OperationSerializer(source="last_operation")
    detail = serializers.CharField(help_text="What happened, in words.")

    class Meta(AgentSerializer.Meta):
        fields = AgentSerializer.Meta.fields + ["operation", "detail"]


class ScreenReadingSerializer(serializers.Serializer):
    signal = serializers.ChoiceField(choices=[Signal.SCREEN, Signal.PROCESS],
                                     help_text="screen: its screen was read; process: tmux said its program is gone.")
    state = serializers.CharField(help_text="The state the look showed.")
    matched = serializers.ListField(child=serializers.CharField(),
                                    help_text="The markers that matched, or what showed instead.")
    lines = serializers.ListField(child=serializers.CharField(), help_text="The bottom lines of the screen read.")
    read_at = serializers.DateTimeField()


class LastHookSerializer(serializers.Serializer):
    event = serializers.CharField(help_text="The program's last hook event (Stop, UserPromptSubmit, ...).")
    state = serializers.CharField(help_text="The state it meant (empty: none, e.g. SessionStart).")
    at = serializers.DateTimeField()
    outranks_screen = serializers.BooleanField(
        help_text=f"Said less than {HOOK_TRUSTED_FOR:.0f} s ago and the agent is still in that state: the screen, "
                  "which lags, does not overrule it yet."
    )


class StateChangeSerializer(serializers.Serializer):
    to_state = serializers.CharField()
    signal = serializers.CharField(help_text="What told it: " + ", ".join(Signal.values) + " (empty: not recorded).")
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class AgentExplainSerializer(serializers.Serializer):
    target = serializers.CharField()
    state = serializers.CharField()
    state_changed_at = serializers.DateTimeField()
    state_reason = serializers.CharField()
    signal = serializers.CharField(
        help_text="What set the state: " + ", ".join(Signal.values) + " (empty: no change of state recorded)."
    )
    screen = ScreenReadingSerializer(allow_null=True, help_text="The last look at its pane; null: never read.")
    hook = LastHookSerializer(allow_null=True, help_text="The program's own last word; null: it never sent a hook.")
    recent_events = StateChangeSerializer(many=True, help_text="The last changes of state, newest last.")


class AgentStatusSerializer(serializers.Serializer):
    target = serializers.CharField()
    state = serializers.CharField()
    state_reason = serializers.CharField()
    state_changed_at = serializers.DateTimeField()
    responsive = serializers.BooleanField()
    last_activity = serializers.DateTimeField(allow_null=True)
    uptime_minutes = serializers.IntegerField()
    idle_minutes = serializers.IntegerField(help_text="Minutes idle, when idle.")
    restart_count = serializers.IntegerField()
    health_score = serializers.IntegerField(
        help_text="0-100: idle/working 100, waiting for approval 80, starting 60, stuck 30, crashed/failed/"
                  "stopped 0; less 10 for each crash in the last 24 hours."
    )
    host = serializers.CharField(help_text="The agent host it runs on.")
    host_down = serializers.BooleanField(help_text="Its host's worker is not alive: the state is the last one seen.")
    activity_summary = serializers.ListField(child=serializers.CharField(), required=False)
    explain = AgentExplainSerializer(required=False, help_text="With `explain=true`: how the state was arrived at.")


MAX_WAIT = 300


class WaitQuerySerializer(StrictSerializer):
    wait = serializers.FloatField(
        required=False, default=0, min_value=0, max_value=MAX_WAIT,
        help_text=f"Seconds (up to {MAX_WAIT}) to wait for the message to be delivered, fail or expire.",
    )


class SendSerializer(StrictSerializer):
    target = StrictCharField(max_length=129, validators=[TARGET], help_text="session:window")
    message = StrictCharField(max_length=200_000, trim_whitespace=False)
    urgent = StrictBooleanField(required=False, default=False, help_text="Interrupt a working agent to deliver it now.")


class ScheduleSerializer(StrictSerializer):
    target = StrictCharField(max_length=129, validators=[TARGET], required=False,
                             help_text="session:window; default: the orchestrator agent.")
    message = StrictCharField(max_length=200_000, trim_whitespace=False, help_text="The note to deliver.")
    minutes = serializers.FloatField(min_value=0.01, max_value=60 * 24 * 30, help_text="How long from now.")


class ReportSerializer(StrictSerializer):
    target = StrictCharField(max_length=129, validators=[TARGET], required=False,
                             help_text="session:window; default (and only choice) for an agent's token: itself.")
    text = StrictCharField(max_length=10_000, help_text="What you are doing, what you did, what blocks you.")


class ReportResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    target = serializers.CharField(source="agent.target")
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class BroadcastSerializer(StrictSerializer):
    sessions = serializers.ListField(child=StrictCharField(max_length=64, validators=[TMUX_NAME]), min_length=1)
    message = StrictCharField(max_length=200_000, trim_whitespace=False)
    agent_types_only = serializers.ListField(child=StrictCharField(max_length=40), required=False, default=list)
    urgent = StrictBooleanField(required=False, default=False)


class AnswerSerializer(TargetSerializer):
    choice = serializers.IntegerField(required=False, min_value=1, max_value=9,
                                      help_text="The option number to pick (approve only); default: the first.")


class HistoryQuerySerializer(StrictSerializer):
    target = StrictCharField(max_length=129, validators=[TARGET], help_text="session:window")
    limit = serializers.IntegerField(required=False, default=50, min_value=1, max_value=500)


class MessageSerializer(serializers.ModelSerializer):
    target = serializers.CharField(source="agent.target")

    class Meta:
        model = Message
        fields = [
            "id", "target", "kind", "sender", "body", "urgent", "status", "attempts", "submit_presses", "error",
            "delivery_log", "not_before", "created_at", "typed_at", "submitted_at", "delivered_at", "reply", "replied_at",
            "received_at", "received_exactly", "received_text",
        ]


class HookResultSerializer(serializers.Serializer):
    event = serializers.CharField(help_text="The hook event the program reported.")
    state = serializers.CharField(help_text="The state it means (empty: none, e.g. SessionStart).")
    message = serializers.IntegerField(allow_null=True, help_text="The message it acknowledged, if any.")
