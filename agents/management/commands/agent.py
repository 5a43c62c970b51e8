"""tmux-orc agent spawn|list|status|restart|kill: the same services as the API."""

import os

from django.core.management.base import CommandError

from agents import selectors, services
from agents.models import OperationStatus
from agents.roles import wait_timeout
from agents.serializers import AgentSerializer, OperationResultSerializer
from orchestrator.management.base import OrchestratorCommand
from orchestrator.output import fields, table

LIST_COLUMNS = ["target", "state", "agent_type", "profile", "host", "tmux_pane_id", "last_activity_at"]
STILL_PENDING = 3  # exit code: asked, but not confirmed within the wait


class Command(OrchestratorCommand):
    help = "Spawn, list, inspect, restart and kill agents."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        spawn = actions.add_parser("spawn", help="start an agent in a new tmux window")
        spawn.add_argument("session_name", help="tmux session (created if missing)")
        spawn.add_argument("agent_type", help="developer, pm, qa, ... or a custom type")
        spawn.add_argument("project_path", help="directory the agent works in (relative to here)")
        spawn.add_argument("--profile", help="agent program (claude, codex, aider, gemini, shell, ...)")
        spawn.add_argument("--name", help="window name (default <Profile>-<agent_type>)")
        spawn.add_argument("--briefing", default="", help="briefing message")
        listing = actions.add_parser("list", help="list agents")
        listing.add_argument("--all", action="store_true", help="include stopped agents")
        listing.add_argument("--session", help="only this session")
        status = actions.add_parser("status", help="one agent's state and health")
        status.add_argument("target", help="session:window")
        status.add_argument("--activity", action="store_true", help="include recent activity")
        for name, text in [("restart", "restart the agent's program"), ("kill", "remove the agent's window")]:
            actions.add_parser(name, help=text).add_argument("target", help="session:window")
        for sub in actions.choices.values():
            super().add_arguments(sub)

    def handle(self, *args, **options):
        getattr(self, f"do_{options['action']}")(options)

    def do_spawn(self, options):
        operation = services.agent_spawn(
            session_name=options["session_name"], agent_type=options["agent_type"],
            project_path=os.path.abspath(os.path.expanduser(options["project_path"])), briefing=options["briefing"],
            profile=options["profile"], name=options["name"], requested_by="cli",
        )
        self._outcome(options, operation)

    def do_restart(self, options):
        agent = selectors.agent_get(target=options["target"])
        self._outcome(options, services.agent_restart(agent=agent, requested_by="cli"))

    def do_kill(self, options):
        agent = selectors.agent_get(target=options["target"])
        self._outcome(options, services.agent_kill(agent=agent, requested_by="cli"))

    def do_list(self, options):
        agents = selectors.agent_list(include_stopped=options["all"], session_name=options["session"])
        data = AgentSerializer(agents, many=True).data
        self.emit(options, data, table(data, LIST_COLUMNS) if data else "no agents")

    def do_status(self, options):
        agent = selectors.agent_get(target=options["target"])
        data = selectors.agent_status(agent=agent, include_activity=options["activity"])
        text = fields({k: v for k, v in data.items() if k != "activity_summary"})
        if options["activity"]:
            text += "\nactivity:\n" + "\n".join(f"  {line}" for line in data["activity_summary"])
        self.emit(options, data, text)

    def _outcome(self, options, operation):
        operation = selectors.operation_wait(operation=operation, timeout=wait_timeout(operation.agent.agent_type))
        detail = selectors.operation_detail(operation)
        agent = operation.agent
        agent.last_operation, agent.detail = operation, detail
        self.emit(options, OperationResultSerializer(agent).data, detail)
        if operation.status in (OperationStatus.FAILED, OperationStatus.CANCELLED):
            raise CommandError(detail)
        if operation.status != OperationStatus.SUCCEEDED:
            raise CommandError("not confirmed yet; is the worker running (tmux-orc server start)?", returncode=STILL_PENDING)
