from django.apps import AppConfig


class OrchestratorConfig(AppConfig):
    name = "orchestrator"
    verbose_name = "Orchestrator"

    def ready(self):
        from orchestrator import schema  # noqa: F401  registers the bearer-token scheme
