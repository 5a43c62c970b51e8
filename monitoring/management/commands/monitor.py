"""tmux-orc monitor agents idle|performance, tmux-orc monitor hosts, tmux-orc monitor metrics."""

from orchestrator.management.base import OrchestratorCommand
from orchestrator.management.watch import add_watch_argument, watch
from orchestrator.output import fields, table, to_json


class Command(OrchestratorCommand):
    help = "What the agents are doing, in numbers."

    def add_arguments(self, parser):
        topics = parser.add_subparsers(dest="topic", required=True, metavar="TOPIC")
        agents = topics.add_parser("agents", help="agents: idle or performance")
        views = agents.add_subparsers(dest="view", required=True, metavar="VIEW")
        idle = views.add_parser("idle", help="idle agents, longest idle first")
        idle.add_argument("--min-minutes", type=int, help="only agents idle at least this long")
        performance = views.add_parser("performance", help="health, uptime, restarts and delivery per agent")
        metrics = topics.add_parser("metrics", help="system metrics of the last 24 hours")
        hosts = topics.add_parser("hosts", help="agent hosts: worker alive, last heartbeat, agents by state, load")
        for sub in (idle, performance, metrics, hosts):
            super().add_arguments(sub)
            add_watch_argument(sub)

    def handle(self, *args, **options):
        render = getattr(self, f"_{options.get('view') or options['topic']}")
        watch(self.stdout.write, lambda: render(options), options["watch"])

    def _idle(self, options) -> str:
        rows = self.call("monitor_agents_idle", min_minutes=options["min_minutes"]).data
        return to_json(rows) if options["json"] else (table(rows, ["target", "agent_type", "idle_minutes", "idle_since"])
                                                      if rows else "no idle agents")

    def _performance(self, options) -> str:
        rows = self.call("monitor_agents_performance").data
        columns = ["target", "state", "health_score", "uptime_minutes", "restart_count", "messages_delivered_24h",
                   "median_delivery_seconds"]
        return to_json(rows) if options["json"] else (table(rows, columns) if rows else "no agents")

    def _hosts(self, options) -> str:
        rows = self.call("monitor_hosts").data
        if options["json"]:
            return to_json(rows)
        shown = [{
            "host": row["host"], "worker": "alive" if row["worker_alive"] else "DOWN",
            "last_heartbeat": row["last_heartbeat"] or "never", "agents": row["agents"],
            "by_state": ", ".join(f"{state} {n}" for state, n in row["agents_by_state"].items() if n) or "-",
            "load": " ".join(str(row["load"].get(k)) for k in ("load_1m", "load_5m", "load_15m")) if row["load"] else "-",
            "cpus": row["load"].get("cpus", "-"),
        } for row in rows]
        return table(shown, list(shown[0])) if shown else "no agent host has reported yet"

    def _metrics(self, options) -> str:
        data = self.call("monitor_metrics").data
        if options["json"]:
            return to_json(data)
        flat = {**{f"agents {k}": v for k, v in data["agents_by_state"].items()},
                **{f"messages {k}": v for k, v in data["messages_by_status"].items()},
                **{f"delivery {k}": v for k, v in data["delivery_seconds"].items()},
                "restarts (24 h)": data["restarts_24h"], "crashes (24 h)": data["crashes_24h"],
                "alerts (24 h)": data["alerts_24h"]}
        return fields(flat)
