from django.db import models
from django.db.models import Q


class CoordinationStrategy(models.TextChoices):
    HUB_AND_SPOKE = "hub_and_spoke", "hub and spoke: engineers report to the PM"
    PEER_TO_PEER = "peer_to_peer", "peer to peer: everyone talks to everyone"


class Isolation(models.TextChoices):
    NONE = "none", "one shared checkout"
    WORKTREE = "worktree", "a git worktree and branch per engineer"


class Team(models.Model):
    """A group of agents working on one project, in one tmux session named after it."""

    name = models.CharField(max_length=64, help_text="Also the tmux session of its agents.")
    project_path = models.CharField(max_length=1024)
    coordination_strategy = models.CharField(
        max_length=20, choices=CoordinationStrategy.choices, default=CoordinationStrategy.HUB_AND_SPOKE
    )
    isolation = models.CharField(max_length=10, choices=Isolation.choices, default=Isolation.NONE)
    template = models.CharField(max_length=40, blank=True, help_text="The template it was deployed from, if any.")
    created_by = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    torn_down_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["name"], condition=Q(torn_down_at=None), name="one_active_team_per_name")
        ]

    def __str__(self) -> str:
        return self.name


class Standup(models.Model):
    """A round of "what are you working on?", and who answered what."""

    requested_by = models.CharField(max_length=120, blank=True)
    session_names = models.JSONField(default=list)
    timeout_seconds = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"standup #{self.pk} ({', '.join(self.session_names) or 'all sessions'})"


class StandupReply(models.Model):
    class Source(models.TextChoices):
        REPORT = "report", "reported through the API"
        SCREEN = "screen", "written on its screen"

    standup = models.ForeignKey(Standup, on_delete=models.CASCADE, related_name="replies")
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="standup_replies")
    request = models.ForeignKey("agents.Message", null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["agent__session_name", "agent__name"]
        verbose_name_plural = "standup replies"

    def __str__(self) -> str:
        return f"{self.agent}: {'answered' if self.answered_at else 'no answer'}"
