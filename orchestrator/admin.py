from django.contrib import admin, messages
from django.template.response import TemplateResponse

from orchestrator.models import ApiToken
from orchestrator.services import token_create, token_revoke


class ServiceErrors:
    """For admin forms whose input a service checks: its "field: problem" goes next to that field."""

    def add_service_error(self, message: str) -> None:
        field, _, problem = message.partition(": ")
        if field in self.fields and problem:
            self.add_error(field, problem)
        else:
            self.add_error(None, message)


def form_page(modeladmin, request, title: str, form, submit: str, **context) -> TemplateResponse:
    """A page with one form: an add view, or the second step of an action (`action` and the
    `objects` it applies to); `help` says what will happen."""
    context = {**modeladmin.admin_site.each_context(request), "title": title, "form": form, "submit": submit,
               "opts": modeladmin.model._meta, "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME, **context}
    return TemplateResponse(request, "admin/form_page.html", context)


admin.site.site_header = admin.site.site_title = "TMUX Orchestrator"
admin.site.index_title = "Agents, teams and API tokens"
admin.site.site_url = "/docs"


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    fields = ["name", *readonly_fields]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        token, raw = token_create(name=obj.name)
        obj.pk, obj.digest, obj.prefix = token.pk, token.digest, token.prefix
        messages.warning(request, f"Token '{token.name}': {raw} — copy it now, it is not shown again.")

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        active = [token for token in queryset if token.is_active]
        for token in active:
            token_revoke(name=token.name)
        messages.success(request, f"Revoked {len(active)} token(s).")
