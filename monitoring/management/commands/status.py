"""tmux-orc status: health checks and agents by state."""

from django.core.management.base import CommandError

from monitoring.selectors import system_status
from orchestrator.management.base import OrchestratorCommand
from orchestrator.output import fields


class Command(OrchestratorCommand):
    help = "Show system health and how many agents are in each state."

    def handle(self, *args, **options):
        data = system_status()
        lines = [fields({"status": data["status"], **data["checks"]}), "", "agents by state:"]
        lines += [f"  {state:<17}{count}" for state, count in data["agents_by_state"].items()]
        lines += ["", "hosts:"] + ([f"  {h:<17}{n} live agent(s)" for h, n in data["hosts"].items()] or ["  none"])
        self.emit(options, data, "\n".join(lines))
        if data["status"] != "healthy":
            raise CommandError("unhealthy")
