"""Tasks: work items given to agents, with the moves their status may make."""

from django.db import models


class TaskStatus(models.TextChoices):
    PENDING = "pending"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    REVIEW = "review"
    DONE = "done"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"


class TaskPriority(models.TextChoices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


# Where each status may go next. `done` and `cancelled` are final.
TRANSITIONS = {
    TaskStatus.PENDING: {TaskStatus.ASSIGNED, TaskStatus.BLOCKED, TaskStatus.CANCELLED},
    TaskStatus.ASSIGNED: {TaskStatus.IN_PROGRESS, TaskStatus.PENDING, TaskStatus.BLOCKED, TaskStatus.CANCELLED},
    TaskStatus.IN_PROGRESS: {TaskStatus.REVIEW, TaskStatus.DONE, TaskStatus.BLOCKED, TaskStatus.CANCELLED},
    TaskStatus.REVIEW: {TaskStatus.DONE, TaskStatus.IN_PROGRESS, TaskStatus.BLOCKED, TaskStatus.CANCELLED},
    TaskStatus.BLOCKED: {TaskStatus.PENDING, TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS, TaskStatus.CANCELLED},
    TaskStatus.DONE: set(),
    TaskStatus.CANCELLED: set(),
}
OPEN_STATUSES = [TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS, TaskStatus.REVIEW, TaskStatus.BLOCKED]


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Task(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    priority = models.CharField(max_length=10, choices=TaskPriority.choices, default=TaskPriority.MEDIUM)
    status = models.CharField(max_length=12, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    assigned_to = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    team = models.ForeignKey("teams.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    project_path = models.CharField(max_length=1024, blank=True, help_text="Where its checks run.")
    completion_criteria = models.JSONField(default=list, blank=True)
    estimated_hours = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="tasks")
    checks = models.JSONField(
        default=list, blank=True,
        help_text="Commands run in the project path, or gate:NAME for a gate from the config; all must pass for done.",
    )
    check_results = models.JSONField(default=list, blank=True, help_text="The last run of the checks.")
    checks_requested_at = models.DateTimeField(null=True, blank=True)
    checks_claimed_by = models.CharField(max_length=120, blank=True, help_text="The worker running the checks.")
    checks_claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="The run's time limit: after it, another worker takes the checks over.",
    )
    created_by = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "priority"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def checks_running(self) -> bool:
        """Checks asked for and not finished (a run whose job went missing is started again)."""
        return self.checks_requested_at is not None


class TaskEvent(models.Model):
    """One move of a task's status, or its assignment: who, when, why."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=12, choices=TaskStatus.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=TaskStatus.choices)
    by = models.CharField(max_length=120, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.task}: {self.from_status or '-'} -> {self.to_status}"
