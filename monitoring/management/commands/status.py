"""tmux-orc status: health checks and agents by state."""

from django.core.management.base import CommandError

from orchestrator.management.base import OrchestratorCommand
from orchestrator.management.watch import add_watch_argument, watch
from orchestrator.output import fields, to_json


def render(data: dict) -> str:
    lines = [fields({"status": data["status"], **data["checks"]}), "", "agents by state:"]
    lines += [f"  {state:<17}{count}" for state, count in data["agents_by_state"].items()]
    down = set(data["hosts_down"])
    lines += ["", "hosts:"] + ([f"  {h:<17}{n} live agent(s)" + ("   DOWN: its worker is not alive" if h in down else "")
                                for h, n in data["hosts"].items()] or ["  none"])
    return "\n".join(lines)


class Command(OrchestratorCommand):
    help = "Show system health and how many agents are in each state."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        add_watch_argument(parser)

    def handle(self, *args, **options):
        if options["watch"]:
            watch(self.stdout.write, lambda: render(self.call("monitor_status").data), options["watch"])
            return
        data = self.call("monitor_status").data
        self.stdout.write(to_json(data) if options["json"] else render(data))
        if data["status"] != "healthy":
            raise CommandError("unhealthy: " + "; ".join(f"{k} {v}" for k, v in data["checks"].items() if v != "ok"))
