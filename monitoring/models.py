"""Alerts: written as rows first (an outbox), sent by a job, kept as a record."""

from django.db import models


class AlertKind(models.TextChoices):
    CRASHED = "crashed"
    STUCK = "stuck"
    WAITING_APPROVAL = "waiting_approval"
    RECOVERY_FAILED = "recovery_failed"
    SCREEN_MARKERS = "screen_markers"  # the profile's markers do not seem to match the program's screen


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    NOT_CONFIGURED = "not_configured"


class Alert(models.Model):
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    text = models.CharField(max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    slack = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    email = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    error = models.CharField(max_length=1000, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    sending_since = models.DateTimeField(null=True, blank=True, help_text="When a worker took it to send.")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["agent", "kind", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind}: {self.agent}"


class Heartbeat(models.Model):
    """The last sign of life of a process the service depends on: `beat`, or
    `worker:<host>` (written by each sweep, with what it saw of tmux)."""

    name = models.CharField(max_length=100, unique=True)
    seen_at = models.DateTimeField()
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PaneScreen(models.Model):
    """The screen of an agent someone follows live (the stream's `output`): the watcher keeps
    it fresh while `wanted_until` lies ahead, and the stream sends it each time it changes."""

    agent = models.OneToOneField("agents.Agent", on_delete=models.CASCADE, related_name="live_screen")
    text = models.TextField(blank=True)
    ansi = models.TextField(blank=True, help_text="The same screen with its colours, as escape sequences.")
    changed_at = models.DateTimeField(null=True, blank=True)
    wanted_until = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"screen of {self.agent}"
