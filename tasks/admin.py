"""Tasks in the admin: edited and moved through the same services as the API."""

from django import forms
from django.contrib import admin, messages

from orchestrator.admin import ServiceErrors
from orchestrator.errors import InvalidInput, OrchestratorError
from tasks import services
from tasks.models import Tag, Task, TaskEvent, TaskStatus


class EventInline(admin.TabularInline):
    model = TaskEvent
    fields = ["created_at", "from_status", "to_status", "by", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    verbose_name_plural = "history"


class TaskForm(ServiceErrors, forms.ModelForm):
    tag_names = forms.CharField(required=False, help_text="Comma-separated.", label="Tags")

    class Meta:
        model = Task
        fields = ["title", "description", "priority", "team", "project_path", "completion_criteria",
                  "estimated_hours", "checks"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["tag_names"].initial = ", ".join(t.name for t in self.instance.tags.all())

    def clean_tag_names(self):
        return [name.strip() for name in self.cleaned_data["tag_names"].split(",") if name.strip()]

    def clean(self):
        data = super().clean()
        checked = {k: data[k] for k in ("title", "priority", "completion_criteria", "checks", "estimated_hours",
                                        "project_path") if k in data}
        try:
            services.check_task_fields({**checked, "tags": data.get("tag_names", [])})
        except InvalidInput as error:
            self.add_service_error(error.message)
        return data


def _move_to(status: str):
    @admin.action(description=f"Move selected tasks to {status}")
    def move(modeladmin, request, queryset):
        moved = 0
        for task in queryset:
            try:
                services.task_set_status(task=task, status=status, by=f"admin:{request.user}")
                moved += 1
            except OrchestratorError as error:
                messages.error(request, f"#{task.pk}: {error.message}")
        if moved:
            messages.success(request, f"{moved} task(s) moved to {status}" +
                             (" (or their checks started)" if status == TaskStatus.DONE else "") + ".")
    move.__name__ = f"move_to_{status}"
    return move


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    form = TaskForm
    list_display = ["id", "title", "status", "priority", "assigned_to", "team", "updated_at"]
    list_filter = ["status", "priority", ("assigned_to", admin.RelatedOnlyFieldListFilter), "tags", "team"]
    search_fields = ["title", "description"]
    readonly_fields = ["status", "assigned_to", "check_results", "checks_requested_at", "checks_claimed_by",
                       "checks_claimed_until", "created_by", "created_at", "updated_at", "started_at", "finished_at"]
    inlines = [EventInline]
    actions = [_move_to(s) for s in (TaskStatus.IN_PROGRESS, TaskStatus.REVIEW, TaskStatus.DONE,
                                     TaskStatus.BLOCKED, TaskStatus.CANCELLED)]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("assigned_to", "team")

    def get_inlines(self, request, obj):
        return self.inlines if obj else []  # a new task has no history yet

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in TaskForm.Meta.fields}
        fields["tags"] = form.cleaned_data["tag_names"]
        by = f"admin:{request.user}"
        if change:
            task = services.task_update(task=obj, by=by, **fields)
        else:
            task = services.task_create(**fields, created_by=by)
        obj.pk = task.pk

    def save_related(self, request, form, formsets, change):
        pass  # tags were set by the service


admin.site.register(Tag)
