"""Teams and standups in the admin: deploy, standup, broadcast, recover, tear down, through
the same services as the API."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html

from agents.admin import host_choices
from agents.models import Agent
from agents.profiles import all_profiles
from agents.roles import all_agent_types
from orchestrator.admin import ServiceErrors, form_page
from orchestrator.errors import OrchestratorError
from teams import services
from teams.models import CoordinationStrategy, Isolation, Standup, StandupReply, Team
from teams.templates import MAX_TEAM_SIZE, MemberSpec, all_templates, get_template


class DeployForm(ServiceErrors, forms.Form):
    project_name = forms.CharField(max_length=64, help_text="The team's name, and the tmux session of its agents.")
    project_path = forms.CharField(max_length=1024)
    team_type = forms.ChoiceField(help_text="The template the members come from.")
    size = forms.IntegerField(min_value=1, max_value=MAX_TEAM_SIZE, initial=3)
    coordination_strategy = forms.ChoiceField(choices=CoordinationStrategy.choices)
    isolation = forms.ChoiceField(choices=Isolation.choices)
    profile = forms.ChoiceField(help_text="The agent program of every member.")
    host = forms.ChoiceField(required=False, help_text="Where the members run: auto spreads them over the live hosts.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team_type"].choices = [(t.name, f"{t.name}: {t.description}") for t in all_templates().values()]
        self.fields["profile"].choices = [(p, p) for p in sorted(all_profiles())]
        self.fields["profile"].initial = settings.TMUX_ORC.default_profile
        self.fields["host"].choices = host_choices()


class BroadcastForm(forms.Form):
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 6, "cols": 80}), strip=False)
    agent_types = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                            help_text="Only these types; none ticked: every member.")
    urgent = forms.BooleanField(required=False, help_text="Interrupt working agents to deliver it now.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent_types"].choices = [(t, t) for t in sorted(all_agent_types())]


class StandupForm(forms.Form):
    timeout_seconds = forms.IntegerField(min_value=1, max_value=services.MAX_STANDUP_TIMEOUT, initial=services.STANDUP_TIMEOUT,
                                         help_text="How long replies are collected.")
    include_idle_agents = forms.BooleanField(required=False, initial=True)


class MemberInline(admin.TabularInline):
    model = Agent
    fields = ["name", "agent_type", "state", "profile", "skills", "git_branch", "last_activity_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    show_change_link = True
    verbose_name_plural = "members"


class ActiveFilter(admin.SimpleListFilter):
    title = "active"
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return [("yes", "active"), ("no", "torn down")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(torn_down_at__isnull=self.value() == "yes")
        return queryset


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "template", "coordination_strategy", "isolation", "project_path", "created_at",
                    "torn_down_at"]
    list_filter = [ActiveFilter, "coordination_strategy", "template"]
    search_fields = ["name", "project_path"]
    readonly_fields = [f.name for f in Team._meta.fields]
    inlines = [MemberInline]
    actions = ["standup", "broadcast", "recover", "teardown"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # its agents would keep running: tear it down instead

    def has_lifecycle_permission(self, request):
        return request.user.has_perm("teams.change_team")

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = DeployForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                template = get_template(data["team_type"])
                members = [MemberSpec(m.role, m.briefing, m.skills, data["profile"], m.host or data["host"] or None)
                           for m in template.members_for(data["size"])]
                deployment = services.team_deploy(
                    name=data["project_name"], project_path=data["project_path"], members=members,
                    coordination_strategy=data["coordination_strategy"], isolation=data["isolation"],
                    template=template.name, requested_by=f"admin:{request.user}",
                )
            except OrchestratorError as error:
                form.add_service_error(error.message)
            else:
                messages.success(request, f"Team {deployment.team.name} is up with {len(members)} members.")
                return redirect("admin:teams_team_change", deployment.team.pk)
        return form_page(self, request, "Deploy a team", form, "Deploy",
                          help="Every member starts in tmux session <project name>, briefed with the roster. "
                               "If one cannot start, the others are taken down again.")

    def _each(self, request, queryset, act, verb):
        for team in queryset:
            if team.torn_down_at is not None:
                messages.error(request, f"{team.name}: torn down; nothing to do")
                continue
            try:
                act(team)
            except OrchestratorError as error:
                messages.error(request, f"{team.name}: {error.message}")
            else:
                messages.success(request, f"{team.name}: {verb}.")

    @admin.action(description="Hold a standup with selected teams", permissions=["lifecycle"])
    def standup(self, request, queryset):
        form = StandupForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return form_page(self, request, "Hold a standup", form, "Ask", objects=queryset, action="standup",
                              help="Each member is asked what it is doing; replies are collected for the time "
                                   "given and kept with the standup.")
        if any(t.torn_down_at for t in queryset):
            messages.error(request, "Choose active teams only: a torn-down team has nobody to ask.")
            return None
        try:
            standup = services.standup_start(session_names=[t.name for t in queryset],
                                             requested_by=f"admin:{request.user}", **form.cleaned_data)
        except OrchestratorError as error:
            messages.error(request, error.message)
            return None
        url = reverse("admin:teams_standup_change", args=[standup.pk])
        messages.success(request, format_html('Standup started; its replies come in at <a href="{}">standup #{}</a>.',
                                              url, standup.pk))
        return None

    @admin.action(description="Send a message to selected teams", permissions=["lifecycle"])
    def broadcast(self, request, queryset):
        form = BroadcastForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return form_page(self, request, "Send a message to teams", form, "Send", objects=queryset,
                              action="broadcast", help="It is typed when each agent is idle, exactly as written.")
        data = form.cleaned_data
        self._each(request, queryset, lambda team: services.team_broadcast(
            team=team, body=data["message"], agent_types=data["agent_types"], urgent=data["urgent"],
            sender=f"admin:{request.user}"), "message queued for its members")
        return None

    @admin.action(description="Restart the crashed or failed members of selected teams", permissions=["lifecycle"])
    def recover(self, request, queryset):
        self._each(request, queryset, lambda team: services.agents_recover(
            session_names=[team.name], requested_by=f"admin:{request.user}"), "restart requested for members down")

    @admin.action(description="Tear down selected teams (kill every member)", permissions=["lifecycle"])
    def teardown(self, request, queryset):
        self._each(request, queryset, lambda team: services.team_teardown(
            team=team, requested_by=f"admin:{request.user}", wait=0), "its members are being killed")


class ReplyInline(admin.TabularInline):
    model = StandupReply
    fields = ["agent", "answered_at", "source", "text"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0


@admin.register(Standup)
class StandupAdmin(admin.ModelAdmin):
    list_display = ["id", "sessions", "requested_by", "created_at", "finished_at", "answers"]
    readonly_fields = [f.name for f in Standup._meta.fields]
    inlines = [ReplyInline]

    @admin.display(description="sessions")
    def sessions(self, standup):
        return ", ".join(standup.session_names) or "all"

    @admin.display(description="answered")
    def answers(self, standup):
        replies = list(standup.replies.all())
        return f"{sum(r.answered_at is not None for r in replies)} of {len(replies)}"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("replies")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        standup = Standup.objects.filter(pk=object_id).first()
        if standup is not None and standup.finished_at is None:
            services.standup_collect(standup=standup)  # the replies that came since
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request):
        return False  # started from the teams list (action), the API or the CLI

    def has_change_permission(self, request, obj=None):
        return False
