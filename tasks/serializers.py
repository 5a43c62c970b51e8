from rest_framework import serializers

from agents.serializers import TARGET, TMUX_NAME
from orchestrator.serializers import MAX_OFFSET, StrictCharField, StrictSerializer
from tasks.models import Task, TaskEvent, TaskPriority, TaskStatus
from tasks.services import MAX_ITEMS


def _items(help_text: str):
    return serializers.ListField(child=StrictCharField(max_length=500), max_length=MAX_ITEMS, required=False,
                                 help_text=help_text)


class TaskFieldsSerializer(StrictSerializer):
    """What a task says; every field optional (an update changes only those given)."""

    title = StrictCharField(max_length=200, required=False)
    description = StrictCharField(max_length=20_000, required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=TaskPriority.choices, required=False)
    completion_criteria = _items("What must be true for the task to be done.")
    estimated_hours = serializers.DecimalField(max_digits=6, decimal_places=2, min_value=0, required=False,
                                               allow_null=True)
    tags = serializers.ListField(child=StrictCharField(max_length=50), max_length=MAX_ITEMS, required=False)
    checks = _items("Commands run in the project path, or gate:NAME; all must pass before done.")


class TaskCreateSerializer(TaskFieldsSerializer):
    title = StrictCharField(max_length=200)
    assigned_to = StrictCharField(max_length=129, required=False, validators=[TARGET],
                                  help_text="session:window of the agent to assign it to at once.")
    team = StrictCharField(max_length=64, required=False, validators=[TMUX_NAME], help_text="The team's name.")
    project_path = StrictCharField(max_length=1024, required=False, help_text="Where its checks run.")


class TaskListQuerySerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=TaskStatus.choices, required=False)
    priority = serializers.ChoiceField(choices=TaskPriority.choices, required=False)
    assigned_to = StrictCharField(max_length=129, required=False, validators=[TARGET], help_text="session:window")
    tag = StrictCharField(max_length=50, required=False)
    team = StrictCharField(max_length=64, required=False, validators=[TMUX_NAME])
    limit = serializers.IntegerField(min_value=1, max_value=500, required=False, default=50)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, required=False, default=0)


class TaskAssignSerializer(StrictSerializer):
    target = StrictCharField(max_length=129, validators=[TARGET], help_text="session:window of the agent.")


class TaskStatusSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=TaskStatus.choices)
    note = StrictCharField(max_length=2000, required=False, allow_blank=True, default="",
                           help_text="Why; e.g. what blocks it.")


class TaskUpdateSerializer(TaskFieldsSerializer):
    """A change of what the task says and, with `status`, a move, all or nothing."""

    status = serializers.ChoiceField(choices=TaskStatus.choices, required=False,
                                     help_text="Move it to this status too (done runs its checks first).")
    note = StrictCharField(max_length=2000, required=False, allow_blank=True, default="",
                           help_text="Why, with a status move; e.g. what blocks it.")


class TaskEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = TaskEvent
        fields = ["from_status", "to_status", "by", "note", "created_at"]


class TaskSerializer(serializers.ModelSerializer):
    assigned_to = serializers.CharField(source="assigned_to.target", allow_null=True, read_only=True,
                                        help_text="session:window of its agent.")
    team = serializers.CharField(source="team.name", allow_null=True, read_only=True)
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    checks_running = serializers.BooleanField(read_only=True, help_text="Its checks are running (done was asked).")

    class Meta:
        model = Task
        fields = [
            "id", "title", "description", "priority", "status", "assigned_to", "team", "project_path",
            "completion_criteria", "estimated_hours", "tags", "checks", "check_results", "checks_running",
            "created_by", "created_at", "updated_at", "started_at", "finished_at",
        ]


    def to_representation(self, task):
        data = super().to_representation(task)
        caller = self.context.get("caller")  # the REST API and MCP say who asks
        if caller is not None and not caller.may_read_check_output(task):
            data["check_results"] = [{**result, "output": "", "output_hidden": True} for result in data["check_results"]]
        return data


class TaskDetailSerializer(TaskSerializer):
    events = TaskEventSerializer(many=True, read_only=True)

    class Meta(TaskSerializer.Meta):
        fields = TaskSerializer.Meta.fields + ["events"]


class TaskPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Tasks matching, before limit and offset.")
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    tasks = TaskSerializer(many=True)
