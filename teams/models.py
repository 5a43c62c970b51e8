from django.db import models


class Team(models.Model):
    """A group of agents working on one project."""

    name = models.CharField(max_length=64, unique=True)
    project_path = models.CharField(max_length=1024, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
