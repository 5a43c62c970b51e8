from django.contrib import admin

from teams.models import Team


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "project_path", "created_at"]
    search_fields = ["name", "project_path"]
