from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from orchestrator.changes import rows_changed


class AgentState(models.TextChoices):
    STARTING = "starting"
    IDLE = "idle"
    WORKING = "working"
    WAITING_APPROVAL = "waiting_approval"
    STUCK = "stuck"
    CRASHED = "crashed"
    FAILED = "failed"  # crashed, and automatic recovery gave up
    STOPPED = "stopped"


LIVE_STATES = [s for s in AgentState if s != AgentState.STOPPED]


class Signal(models.TextChoices):
    """Where a state came from."""

    SCREEN = "screen"  # the pane's screen, read by the watcher or the sweep
    HOOK = "hook"  # the agent program's own report (Claude Code hooks)
    PROCESS = "process"  # tmux: the pane's program exited, its window is gone
    DELIVERY = "delivery"  # a message was just submitted: the agent took it and works on it
    SERVICE = "service"  # the orchestrator itself: spawned, restarted, killed


class Agent(models.Model):
    """An agent program running in a tmux pane. `session_name:name` is its target."""

    name = models.CharField(max_length=64, help_text="The tmux window name.")
    session_name = models.CharField(max_length=64)
    agent_type = models.CharField(max_length=40)
    profile = models.CharField(max_length=40)
    team = models.ForeignKey("teams.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="agents")
    project_path = models.CharField(max_length=1024)
    briefing = models.TextField(blank=True)
    host = models.CharField(max_length=64, help_text="The host whose tmux server runs the agent.")
    tmux_session_id = models.CharField(max_length=16, blank=True)
    tmux_window_id = models.CharField(max_length=16, blank=True)
    tmux_pane_id = models.CharField(max_length=16, blank=True)
    pane_pid = models.IntegerField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=AgentState.choices, default=AgentState.STARTING)
    state_reason = models.CharField(max_length=500, blank=True)
    state_changed_at = models.DateTimeField(default=timezone.now)
    restart_count = models.PositiveIntegerField(default=0)
    recovery_attempts = models.PositiveIntegerField(
        default=0, help_text="Automatic restarts since the agent last ran well."
    )
    next_recovery_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    skills = models.JSONField(default=list, blank=True)
    worktree_of = models.CharField(
        max_length=1024, blank=True, help_text="The git repository whose worktree `project_path` is, if any."
    )
    git_branch = models.CharField(max_length=200, blank=True, help_text="The branch of its worktree.")
    # The last reading of its screen (state, markers matched, lines read), for `explain`.
    observation = models.JSONField(default=dict, blank=True)
    observed_at = models.DateTimeField(null=True, blank=True)
    # The agent program's last word about itself (a hook), and when.
    hook_event = models.CharField(max_length=40, blank=True)
    hook_state = models.CharField(max_length=20, choices=AgentState.choices, blank=True)
    hook_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["session_name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["session_name", "name"],
                condition=~Q(state="stopped"),
                name="one_live_agent_per_target",
            )
        ]
        indexes = [models.Index(fields=["host", "state"])]

    def __str__(self) -> str:
        return self.target

    @property
    def target(self) -> str:
        return f"{self.session_name}:{self.name}"

    def set_state(self, state: str, reason: str, *, only_from: str | None = None, signal: str = Signal.SERVICE,
                  **fields) -> bool:
        """Move to `state` for `reason` (told by `signal`), saving `fields` with it.

        With `only_from`, only if the row is still in that state: a sweep that looked a
        moment ago must not undo a kill or restart that happened since.
        """
        changes = {"state": state, "state_reason": reason[:500], **fields}
        moved = state != self.state
        if moved:
            changes["state_changed_at"] = timezone.now()
        rows = Agent.objects.filter(pk=self.pk)
        if only_from is not None:
            rows = rows.filter(state=only_from)
        with transaction.atomic():
            if not rows.update(**changes):
                return False
            if moved:
                rows_changed()
                AgentEvent.objects.create(agent_id=self.pk, from_state=self.state, to_state=state, signal=signal,
                                          reason=reason[:500], created_at=changes["state_changed_at"])
        for name, value in changes.items():
            setattr(self, name, value)
        return True


@dataclass
class StateSeen:
    """What a sweep saw of one agent: its state, why, and other fields to save with it."""

    agent: Agent
    state: str
    reason: str
    fields: dict = field(default_factory=dict)
    signal: str = Signal.SCREEN

    def values(self, now) -> dict:
        values = {"state": self.state, "state_reason": self.reason[:500], **self.fields}
        if self.state != self.agent.state:
            values["state_changed_at"] = now
        return values

    @property
    def is_news(self) -> bool:
        return (self.agent.state, self.agent.state_reason) != (self.state, self.reason[:500]) or bool(self.fields)


def agents_set_states(seen: list[StateSeen]) -> int:
    """Write what a sweep saw of many agents in one transaction: one UPDATE per distinct
    set of values and one INSERT for all the events. As `Agent.set_state(only_from=…)`, an
    agent whose row left the state the sweep saw (killed, restarted meanwhile) is left
    alone. Returns how many agents changed state; the objects are updated in place."""
    seen = [s for s in seen if s.is_news]
    if not seen:
        return 0
    now = timezone.now()
    with transaction.atomic():
        rows = Agent.objects.select_for_update().filter(pk__in=[s.agent.pk for s in seen])
        current = dict(rows.values_list("pk", "state"))
        seen = [s for s in seen if current.get(s.agent.pk) == s.agent.state]
        groups: dict[str, tuple[dict, list[int]]] = {}
        for s in seen:
            values = s.values(now)
            groups.setdefault(json.dumps(values, sort_keys=True, default=str), (values, []))[1].append(s.agent.pk)
        for values, pks in groups.values():
            Agent.objects.filter(pk__in=pks).update(**values)
        events = [AgentEvent(agent_id=s.agent.pk, from_state=s.agent.state, to_state=s.state, signal=s.signal,
                             reason=s.reason[:500], created_at=now) for s in seen if s.state != s.agent.state]
        AgentEvent.objects.bulk_create(events)
        if events:
            rows_changed()
    for s in seen:
        for name, value in s.values(now).items():
            setattr(s.agent, name, value)
    return len(events)


class AgentEvent(models.Model):
    """One change of an agent's state: when, from what, to what, and why."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="events")
    from_state = models.CharField(max_length=20, choices=AgentState.choices)
    to_state = models.CharField(max_length=20, choices=AgentState.choices)
    reason = models.CharField(max_length=500, blank=True)
    signal = models.CharField(max_length=10, choices=Signal.choices, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["agent", "created_at"])]

    def __str__(self) -> str:
        return f"{self.agent}: {self.from_state} -> {self.to_state}"


class OperationKind(models.TextChoices):
    SPAWN = "spawn"
    RESTART = "restart"
    KILL = "kill"
    APPROVE = "approve"
    DENY = "deny"


class OperationStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATUSES = [OperationStatus.SUCCEEDED, OperationStatus.FAILED, OperationStatus.CANCELLED]


class AgentOperation(models.Model):
    """A tmux operation asked of an agent's host worker; its row is its result."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="operations")
    kind = models.CharField(max_length=10, choices=OperationKind.choices)
    argument = models.CharField(max_length=20, blank=True, help_text="e.g. the option chosen at a prompt")
    status = models.CharField(max_length=10, choices=OperationStatus.choices, default=OperationStatus.PENDING)
    error = models.CharField(max_length=1000, blank=True)
    requested_by = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "status"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.agent} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class MessageStatus(models.TextChoices):
    SCHEDULED = "scheduled"  # queued when `not_before` comes
    QUEUED = "queued"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # a scheduled message called off


class MessageKind(models.TextChoices):
    MESSAGE = "message"
    BRIEFING = "briefing"


FINAL_MESSAGE_STATUSES = [MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.EXPIRED, MessageStatus.CANCELLED]


class MessageQuerySet(models.QuerySet):
    def update(self, **fields):
        """Every change of status is stamped, so the live stream finds it (orchestrator/changes.py)."""
        if "status" in fields:
            fields.setdefault("changed_at", timezone.now())
            rows_changed()
        return super().update(**fields)

    def create(self, **fields):
        rows_changed()
        return super().create(**fields)


class Message(models.Model):
    """Text for an agent. The row exists, committed, before anything is typed, and its
    timestamps record how far delivery got, so a worker that dies is followed, not repeated."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=10, choices=MessageKind.choices, default=MessageKind.MESSAGE)
    sender = models.CharField(max_length=120, blank=True)
    sent_with = models.ForeignKey(
        "orchestrator.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages_sent",
        help_text="The API token the message was sent with, if it came through the API or MCP.",
    )
    body = models.TextField()
    urgent = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0, help_text="Times a worker took it up.")
    submit_presses = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=1000, blank=True)
    delivery_log = models.TextField(blank=True)
    claimed_by = models.CharField(max_length=120, blank=True, help_text="host:pid of the worker delivering it.")
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    typed_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    reply = models.TextField(blank=True, help_text="What the agent answered.")
    replied_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True, help_text="A scheduled message is queued at this time.")
    # The program's own receipt (Claude Code's UserPromptSubmit hook): what it says it got.
    received_at = models.DateTimeField(null=True, blank=True)
    received_exactly = models.BooleanField(null=True, help_text="The program received the body byte for byte.")
    received_text = models.TextField(blank=True, help_text="What the program received, kept when it differs.")
    changed_at = models.DateTimeField(default=timezone.now, db_index=True, help_text="When its status last changed.")

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["agent", "status"]), models.Index(fields=["status", "created_at"])]
        constraints = [
            # Two workers can never type into one pane at once: the claim that would make a
            # second message `delivering` fails (agents/delivery.py).
            models.UniqueConstraint(fields=["agent"], condition=models.Q(status="delivering"),
                                    name="one_message_in_flight_per_agent"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} to {self.agent} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_MESSAGE_STATUSES


class AgentReport(models.Model):
    """What an agent said of its own work, through the API or MCP (standups read these)."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="reports")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.agent}: {self.text[:60]}"


class Host(models.Model):
    """A machine that runs agents: its worker consumes the queue `host.<name>` and owns its
    tmux server. The worker says it is alive each sweep; a host whose worker has not for a
    while is down, and its agents are where they were, waiting for it."""

    name = models.CharField(max_length=100, unique=True)
    worker_seen_at = models.DateTimeField(help_text="The worker's last sign of life.")
    load = models.JSONField(default=dict, blank=True, help_text="The machine's load averages and cores, as last seen.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
