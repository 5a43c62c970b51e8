from django.contrib import admin

from monitoring.models import Alert


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "agent", "kind", "slack", "email", "error"]
    list_filter = ["kind", "slack", "email"]
    search_fields = ["text", "agent__session_name", "agent__name"]
    readonly_fields = [f.name for f in Alert._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
