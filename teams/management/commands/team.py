"""tmux-orc team deploy|status|list|broadcast|recover|teardown|standup: calls to the REST
API, as whoever the client's token names (orchestrator.client)."""

import os

from django.core.management.base import CommandError

from agents.models import OperationStatus
from orchestrator.management.base import OrchestratorCommand
from orchestrator.management.watch import add_watch_argument, watch
from orchestrator.output import fields, table, to_json
from teams.models import CoordinationStrategy, Isolation
from teams.templates import all_templates

MEMBER_COLUMNS = ["target", "agent_type", "state", "profile", "last_activity_at"]


class Command(OrchestratorCommand):
    help = "Deploy teams of agents from templates, and look after them."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        deploy = actions.add_parser("deploy", help="start a team from a template")
        deploy.add_argument("team_type", help=f"template: {', '.join(sorted(all_templates()))}")
        deploy.add_argument("size", type=int, help="how many members")
        deploy.add_argument("--project-name", required=True, help="the team's name, and its tmux session")
        deploy.add_argument("--project-path", default=".", help="project directory (default: here)")
        deploy.add_argument("--strategy", choices=CoordinationStrategy.values,
                            help="hub_and_spoke (default: engineers report to the PM) or peer_to_peer")
        deploy.add_argument("--isolation", choices=Isolation.values,
                            help="worktree: a git worktree and branch per engineer")
        deploy.add_argument("--profile", help="agent program for every member (default from config)")
        deploy.add_argument("--host", help="agent host for every member, or auto to spread them over the live "
                                           "hosts (default: the service's default_host)")
        status = actions.add_parser("status", help="a team's members and tasks")
        status.add_argument("name")
        add_watch_argument(status)
        listing = actions.add_parser("list", help="list teams")
        listing.add_argument("--all", action="store_true", help="include torn-down teams")
        broadcast = actions.add_parser("broadcast", help="send a message to every member")
        broadcast.add_argument("name")
        broadcast.add_argument("text")
        broadcast.add_argument("--types", default="", help="only these agent types, comma-separated (pm,developer)")
        broadcast.add_argument("--urgent", action="store_true", help="interrupt working agents")
        recover = actions.add_parser("recover", help="restart the members that are down")
        recover.add_argument("name")
        recover.add_argument("--include-stuck", action="store_true")
        actions.add_parser("teardown", help="kill every member and end the team").add_argument("name")
        standup = actions.add_parser("standup", help="ask every member what it is doing, collect the replies")
        standup.add_argument("names", nargs="*", help="teams (sessions); default: every one")
        standup.add_argument("--timeout", type=int, help="seconds to collect replies (default: the API's, 30)")
        standup.add_argument("--busy-only", action="store_true", help="leave idle agents out")
        for sub in actions.choices.values():
            super().add_arguments(sub)

    def handle(self, *args, **options):
        getattr(self, f"do_{options['action']}")(options)

    def _each(self, options, agents: list[dict]) -> None:
        if options["json"]:
            return
        for n, agent in enumerate(agents, 1):
            word = "started" if agent["operation"]["status"] == OperationStatus.SUCCEEDED else agent["detail"]
            self.stdout.write(f"[{n}/{len(agents)}] {agent['target']} ({agent['agent_type']}): {word}")

    def do_deploy(self, options):
        if not options["json"]:
            self.stdout.write(f"Deploying team {options['project_name']} ({options['team_type']}, "
                              f"{options['size']} members) ...")
        result = self.call("coordination_deploy_team", project_name=options["project_name"],
                           project_path=os.path.abspath(os.path.expanduser(options["project_path"])),
                           team_type=options["team_type"], size=options["size"], profile=options["profile"], host=options["host"],
                           coordination_strategy=options["strategy"], isolation=options["isolation"]).data
        self._each(options, result["started"])
        team = result["team"]
        self.emit(options, team, f"Team {team['name']} is up: {len(team['members'])} agents in tmux session "
                                 f"{team['name']}. `tmux-orc team status {team['name']}` to follow it.")

    def do_status(self, options):
        def render() -> str:
            data = self.call("teams_status", name=options["name"]).data
            if options["json"]:
                return to_json(data)
            head = {k: data["team"][k] for k in ("name", "project_path", "coordination_strategy", "isolation",
                                                  "template", "created_at")}
            tasks = ", ".join(f"{n} {s}" for s, n in sorted(data["tasks_by_status"].items())) or "none"
            members = table(data["team"]["members"], MEMBER_COLUMNS) if data["team"]["members"] else "no live members"
            return f"{fields(head)}\ntasks         {tasks}\n\n{members}"

        watch(self.stdout.write, render, options["watch"])

    def do_list(self, options):
        data = self.call("teams_list", include_torn_down=options["all"]).data
        rows = [{**t, "members": len(t["members"])} for t in data]
        columns = ["name", "members", "template", "coordination_strategy", "project_path", "created_at"]
        self.emit(options, data, table(rows, columns + (["torn_down_at"] if options["all"] else []))
                  if rows else "no teams")

    def do_broadcast(self, options):
        types = [t.strip() for t in options["types"].split(",") if t.strip()]
        messages = self.call("teams_broadcast", name=options["name"], message=options["text"],
                             agent_types_only=types, urgent=options["urgent"]).data
        self.emit(options, messages,
                  f"queued for {len(messages)} agent(s): {', '.join(m['target'] for m in messages)}")

    def do_recover(self, options):
        self.call("teams_status", name=options["name"])  # a team of that name, not any session
        result = self.call("coordination_recover", session_names=[options["name"]],
                           include_stuck=options["include_stuck"]).data
        self._report(options, result["restarted"], "nothing to recover: no member is down")

    def do_teardown(self, options):
        kills = self.call("teams_teardown", name=options["name"]).data
        self._each(options, kills)
        self._report(options, kills, f"team {options['name']} had no live members; it is ended")

    def _report(self, options, agents: list[dict], nothing: str) -> None:
        lines = [agent["detail"] for agent in agents] or [nothing]
        self.emit(options, agents, "\n".join(lines))
        if any(a["operation"]["status"] != OperationStatus.SUCCEEDED for a in agents):
            raise CommandError("not every operation finished; is the worker running (tmux-orc server start)?")

    def do_standup(self, options):
        if not options["json"]:
            self.stdout.write(f"Standup of {', '.join(options['names']) or 'every team'}: collecting replies ...")
        data = self.call("coordination_standup", session_names=options["names"],
                         include_idle_agents=not options["busy_only"], timeout_seconds=options["timeout"]).data
        blocks = [f"Standup #{data['id']}: asked {len(data['replies'])} agent(s)"]
        for reply in data["replies"]:
            if reply["answered"]:
                text = "\n".join(f"    {line}" for line in reply["text"].splitlines())
                blocks.append(f"{reply['target']} ({reply['agent_type']}, {reply['source']}):\n{text}")
        if data["not_answered"]:
            blocks.append(f"No answer from: {', '.join(data['not_answered'])}")
        self.emit(options, data, "\n".join(blocks))
