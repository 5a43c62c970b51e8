from django.contrib import admin, messages

from orchestrator.models import ApiToken
from orchestrator.services import token_create, token_revoke


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
