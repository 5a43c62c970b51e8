"""tmux-orc team deploy|status|list|broadcast|recover|teardown|standup: the same services as the API."""

import os

from django.core.management.base import CommandError

from agents.models import OperationStatus
from agents.selectors import operation_detail, operation_outcome, operations_wait
from agents.serializers import MessageSerializer, OperationResultSerializer
from orchestrator.management.base import OrchestratorCommand
from orchestrator.management.watch import add_watch_argument, watch
from orchestrator.output import fields, table, to_json
from teams import selectors, services
from teams.models import CoordinationStrategy, Isolation
from teams.serializers import StandupSerializer, TeamSerializer, TeamStatusSerializer
from teams.templates import MemberSpec, all_templates, get_template

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
        deploy.add_argument("--strategy", choices=CoordinationStrategy.values, default=CoordinationStrategy.HUB_AND_SPOKE,
                            help="hub_and_spoke (default: engineers report to the PM) or peer_to_peer")
        deploy.add_argument("--isolation", choices=Isolation.values, default=Isolation.NONE,
                            help="worktree: a git worktree and branch per engineer")
        deploy.add_argument("--profile", help="agent program for every member (default from config)")
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
        standup.add_argument("--timeout", type=int, default=30, help="seconds to collect replies (default 30)")
        standup.add_argument("--busy-only", action="store_true", help="leave idle agents out")
        for sub in actions.choices.values():
            super().add_arguments(sub)

    def handle(self, *args, **options):
        getattr(self, f"do_{options['action']}")(options)

    def _progress(self, options, total: int):
        done = []

        def tell(agent, operation):
            done.append(agent)
            if not options["json"]:
                word = "started" if operation.status == OperationStatus.SUCCEEDED else operation_detail(operation)
                self.stdout.write(f"[{len(done)}/{total}] {agent.target} ({agent.agent_type}): {word}")
        return tell

    def do_deploy(self, options):
        template = get_template(options["team_type"])
        members = [MemberSpec(m.role, m.briefing, m.skills, options["profile"] or m.profile)
                   for m in template.members_for(options["size"])]
        if not options["json"]:
            self.stdout.write(f"Deploying team {options['project_name']} ({template.name}, {len(members)} members) ...")
        deployment = services.team_deploy(
            name=options["project_name"], project_path=os.path.abspath(os.path.expanduser(options["project_path"])),
            members=members, coordination_strategy=options["strategy"], isolation=options["isolation"],
            template=template.name, requested_by="cli", progress=self._progress(options, len(members)),
        )
        team = selectors.team_list().get(pk=deployment.team.pk)
        self.emit(options, TeamSerializer(team).data,
                  f"Team {team.name} is up: {len(team.members)} agents in tmux session {team.name}. "
                  f"`tmux-orc team status {team.name}` to follow it.")

    def do_status(self, options):
        def render() -> str:
            team = selectors.team_get(name=options["name"])
            data = TeamStatusSerializer({**selectors.team_status(team=team),
                                         "team": selectors.team_list().get(pk=team.pk)}).data
            if options["json"]:
                return to_json(data)
            head = {k: data["team"][k] for k in ("name", "project_path", "coordination_strategy", "isolation",
                                                  "template", "created_at")}
            tasks = ", ".join(f"{n} {s}" for s, n in sorted(data["tasks_by_status"].items())) or "none"
            members = table(data["team"]["members"], MEMBER_COLUMNS) if data["team"]["members"] else "no live members"
            return f"{fields(head)}\ntasks         {tasks}\n\n{members}"

        watch(self.stdout.write, render, options["watch"])

    def do_list(self, options):
        teams = selectors.team_list(include_torn_down=options["all"])
        data = TeamSerializer(teams, many=True).data
        rows = [{**t, "members": len(t["members"])} for t in data]
        columns = ["name", "members", "template", "coordination_strategy", "project_path", "created_at"]
        self.emit(options, data, table(rows, columns + (["torn_down_at"] if options["all"] else []))
                  if rows else "no teams")

    def do_broadcast(self, options):
        team = selectors.team_get(name=options["name"])
        types = [t.strip() for t in options["types"].split(",") if t.strip()]
        messages = services.team_broadcast(team=team, body=options["text"], agent_types=types,
                                           urgent=options["urgent"], sender="cli")
        self.emit(options, MessageSerializer(messages, many=True).data,
                  f"queued for {len(messages)} agent(s): {', '.join(m.agent.target for m in messages)}")

    def do_recover(self, options):
        team = selectors.team_get(name=options["name"])
        operations = services.agents_recover(session_names=[team.name], include_stuck=options["include_stuck"],
                                             requested_by="cli")
        self._report(options, operations, "nothing to recover: no member is down")

    def do_teardown(self, options):
        team = selectors.team_get(name=options["name"])
        live = team.agents.exclude(state="stopped").count()
        kills = services.team_teardown(team=team, requested_by="cli", progress=self._progress(options, live))
        self._report(options, kills, f"team {team.name} had no live members; it is ended")

    def _report(self, options, operations, nothing: str) -> None:
        agents = [operation_outcome(op, timeout=0) for op in operations_wait(operations)]
        lines = [agent.detail for agent in agents] or [nothing]
        self.emit(options, OperationResultSerializer(agents, many=True).data, "\n".join(lines))
        if any(a.last_operation.status != OperationStatus.SUCCEEDED for a in agents):
            raise CommandError("not every operation finished; is the worker running (tmux-orc server start)?")

    def do_standup(self, options):
        standup = services.standup_start(session_names=options["names"], include_idle_agents=not options["busy_only"],
                                         timeout_seconds=options["timeout"], requested_by="cli")
        if not options["json"]:
            self.stdout.write(f"Standup #{standup.pk}: asked {standup.replies.count()} agent(s); "
                              f"collecting replies for up to {standup.timeout_seconds} s ...")
        services.standup_run(standup=standup)
        data = StandupSerializer(selectors.standup_get(standup_id=standup.pk)).data
        blocks = []
        for reply in data["replies"]:
            if reply["answered"]:
                text = "\n".join(f"    {line}" for line in reply["text"].splitlines())
                blocks.append(f"{reply['target']} ({reply['agent_type']}, {reply['source']}):\n{text}")
        if data["not_answered"]:
            blocks.append(f"No answer from: {', '.join(data['not_answered'])}")
        self.emit(options, data, "\n".join(blocks))
