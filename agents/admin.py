"""Agents in the admin: the same services as the API, no editing behind their back."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from agents import services
from agents.hosts import live_hosts, worker_alive
from agents.models import Agent, AgentOperation, AgentState, Host, Message
from agents.profiles import all_profiles
from agents.roles import all_agent_types
from orchestrator.admin import ServiceErrors, form_page
from orchestrator.errors import OrchestratorError


def host_choices() -> list[tuple[str, str]]:
    """The default, auto, and the hosts whose worker is alive, for a form's host field."""
    return [("", f"default ({settings.TMUX_ORC.default_host})"), ("auto", "auto: the live host with the fewest agents"),
            *((host, host) for host in sorted(live_hosts()))]


class SpawnForm(ServiceErrors, forms.Form):
    session_name = forms.CharField(max_length=64)
    agent_type = forms.ChoiceField()
    profile = forms.ChoiceField()
    project_path = forms.CharField(max_length=1024)
    name = forms.CharField(max_length=64, required=False, help_text="Window name; default <Profile>-<type>.")
    briefing = forms.CharField(widget=forms.Textarea, required=False)
    host = forms.ChoiceField(required=False, help_text="Where it runs: a host whose worker is alive.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["host"].choices = host_choices()
        self.fields["agent_type"].choices = [(t, t) for t in sorted(all_agent_types())]
        self.fields["agent_type"].initial = "developer"
        self.fields["profile"].choices = [(p, p) for p in sorted(all_profiles())]
        self.fields["profile"].initial = settings.TMUX_ORC.default_profile


class SendMessageForm(forms.Form):
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 6, "cols": 80}), strip=False)
    urgent = forms.BooleanField(required=False, help_text="Interrupt a working agent to deliver it now.")


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["created_at", "kind", "sender", "body", "urgent", "status", "error", "delivered_at", "reply"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    ordering = ["-created_at"]
    verbose_name_plural = "history (messages and replies)"


class OperationInline(admin.TabularInline):
    model = AgentOperation
    fields = ["kind", "status", "error", "requested_by", "created_at", "finished_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["target", "state", "agent_type", "profile", "team", "host", "last_activity_at", "restart_count"]
    list_filter = ["state", "agent_type", "profile", "host", "team"]
    search_fields = ["name", "session_name", "project_path", "briefing"]
    readonly_fields = [f.name for f in Agent._meta.fields]
    inlines = [MessageInline, OperationInline]
    actions = ["send_message", "approve", "deny", "restart", "kill"]

    def get_search_results(self, request, queryset, search_term):
        session, sep, window = search_term.strip().partition(":")
        if sep and session and window:  # a target, as people paste it
            return queryset.filter(session_name=session, name=window), False
        return super().get_search_results(request, queryset, search_term)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # deleting the row would leave its window running: kill it instead

    def has_lifecycle_permission(self, request):
        # The change page is read-only, yet restart and kill change the agent: they need
        # the model's change permission, which has_change_permission above cannot report.
        return request.user.has_perm("agents.change_agent")

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):  # the stock add view checks this; ours must too
            raise PermissionDenied
        form = SpawnForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                data = {**form.cleaned_data, "host": form.cleaned_data["host"] or None}
                operation = services.agent_spawn(**data, requested_by=f"admin:{request.user}")
            except OrchestratorError as error:
                form.add_service_error(error.message)
            else:
                messages.success(request, f"Spawn of {operation.agent.target} requested.")
                return redirect("admin:agents_agent_change", operation.agent.pk)
        return form_page(self, request, "Spawn agent", form, "Spawn")

    def _each(self, request, queryset, service, verb):
        done = 0
        for agent in queryset:
            try:
                service(agent=agent, requested_by=f"admin:{request.user}")
                done += 1
            except OrchestratorError as error:
                messages.error(request, f"Not done: {error.message}")
        if done:
            messages.success(request, f"{verb} requested for {done} agent(s).")

    @admin.action(description="Send a message to selected agents", permissions=["lifecycle"])
    def send_message(self, request, queryset):
        form = SendMessageForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            sent = 0
            for agent in queryset:
                try:
                    services.message_send(agent=agent, body=form.cleaned_data["message"],
                                          urgent=form.cleaned_data["urgent"], sender=f"admin:{request.user}")
                    sent += 1
                except OrchestratorError as error:
                    messages.error(request, f"Not sent: {error.message}")
            if sent:
                messages.success(request, f"Message queued for {sent} agent(s); see each agent's history.")
            return None
        return form_page(self, request, "Send a message", form, "Send", objects=queryset, action="send_message",
                         help="It is typed when the agent is idle, exactly as written, and submitted once.")

    @admin.action(description="Approve the permission prompt of selected agents", permissions=["lifecycle"])
    def approve(self, request, queryset):
        self._each(request, queryset, lambda **kw: services.agent_answer_prompt(approve=True, **kw), "Approval")

    @admin.action(description="Deny the permission prompt of selected agents", permissions=["lifecycle"])
    def deny(self, request, queryset):
        self._each(request, queryset, lambda **kw: services.agent_answer_prompt(approve=False, **kw), "Denial")

    @admin.action(description="Restart selected agents", permissions=["lifecycle"])
    def restart(self, request, queryset):
        self._each(request, queryset, services.agent_restart, "Restart")

    @admin.action(description="Kill selected agents", permissions=["lifecycle"])
    def kill(self, request, queryset):
        self._each(request, queryset, services.agent_kill, "Kill")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Every message, read-only: what was sent, how its delivery went, what came back."""

    list_display = ["id", "agent", "kind", "sender", "urgent", "status", "not_before", "created_at", "delivered_at"]
    list_filter = ["status", "kind", "urgent"]
    search_fields = ["body", "reply", "sender", "agent__session_name", "agent__name"]
    readonly_fields = [f.name for f in Message._meta.fields]
    actions = ["cancel"]

    @admin.action(description="Cancel selected messages not yet typed (scheduled or queued)",
                  permissions=["lifecycle"])
    def cancel(self, request, queryset):
        done = 0
        for message in queryset:
            try:
                services.message_cancel(message=message, by=f"admin:{request.user}")
                done += 1
            except OrchestratorError as error:
                messages.error(request, f"Not cancelled: {error.message}")
        if done:
            messages.success(request, f"{done} message(s) cancelled.")

    def has_lifecycle_permission(self, request):
        return request.user.has_perm("agents.change_message")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    """The agent hosts, as their workers report them: written by the workers, read here."""

    list_display = ["name", "worker_alive", "worker_seen_at", "live_agents", "load"]
    readonly_fields = [f.name for f in Host._meta.fields]

    @admin.display(boolean=True, description="worker alive")
    def worker_alive(self, host: Host) -> bool:
        return worker_alive(host)

    @admin.display(description="live agents")
    def live_agents(self, host: Host) -> int:
        return Agent.objects.filter(host=host.name).exclude(state=AgentState.STOPPED).count()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
