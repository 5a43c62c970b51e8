from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"

    def ready(self) -> None:
        from agents.briefs import brief_provider
        from tasks.selectors import task_open_brief

        # An agent restarted is told its open tasks again.
        brief_provider(10)(lambda agent: task_open_brief(agent=agent))
