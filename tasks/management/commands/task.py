"""tmux-orc task create|list|show|assign|update: the same services as the API."""

from django.core.management.base import CommandError

from agents.selectors import agent_get
from orchestrator.management.base import OrchestratorCommand
from orchestrator.output import fields, table
from tasks import selectors, services
from tasks.models import TaskPriority, TaskStatus
from tasks.serializers import TaskDetailSerializer, TaskSerializer
from teams.selectors import team_get

LIST_COLUMNS = ["id", "status", "priority", "title", "assigned_to", "team", "updated_at"]


def _fields(parser, *, create: bool) -> None:
    parser.add_argument("--description", help="what is to be done")
    parser.add_argument("--priority", choices=TaskPriority.values, default=TaskPriority.MEDIUM if create else None)
    parser.add_argument("--criterion", action="append", dest="completion_criteria", metavar="TEXT",
                        help="a completion criterion (repeat for more)")
    parser.add_argument("--hours", type=float, dest="estimated_hours", help="estimated hours")
    parser.add_argument("--tag", action="append", dest="tags", metavar="TAG", help="a tag (repeat for more)")
    parser.add_argument("--check", action="append", dest="checks", metavar="COMMAND",
                        help="a command that must pass before done, or gate:NAME (repeat for more)")


class Command(OrchestratorCommand):
    help = "Create, list, show, assign and update tasks."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="record a task")
        create.add_argument("title")
        _fields(create, create=True)
        create.add_argument("--assign", "--assigned-to", dest="assign", metavar="TARGET",
                            help="session:window of the agent to give it to")
        create.add_argument("--team", help="the team it belongs to")
        create.add_argument("--project-path", default="", help="where its checks run (default: the assignee's)")
        listing = actions.add_parser("list", help="list tasks, newest first")
        listing.add_argument("--status", choices=TaskStatus.values)
        listing.add_argument("--priority", choices=TaskPriority.values)
        listing.add_argument("--assigned-to", metavar="TARGET")
        listing.add_argument("--tag")
        listing.add_argument("--team")
        listing.add_argument("--limit", type=int, default=50)
        listing.add_argument("--offset", type=int, default=0)
        actions.add_parser("show", help="a task with its history and check results").add_argument("id", type=int)
        assign = actions.add_parser("assign", help="give a task to an agent (it gets the brief)")
        assign.add_argument("id", type=int)
        assign.add_argument("target", help="session:window")
        update = actions.add_parser("update", help="change a task, or move its status")
        update.add_argument("id", type=int)
        update.add_argument("--status", choices=TaskStatus.values, help="move it to this status")
        update.add_argument("--note", default="", help="why (with --status)")
        update.add_argument("--title")
        _fields(update, create=False)
        for sub in actions.choices.values():
            super().add_arguments(sub)

    def handle(self, *args, **options):
        getattr(self, f"do_{options['action']}")(options)

    def _show(self, options, task_id: int, headline: str = "") -> None:
        task = selectors.task_get(task_id=task_id)
        data = TaskDetailSerializer(task).data
        main = {k: data[k] for k in ("id", "title", "status", "priority", "assigned_to", "team", "estimated_hours",
                                     "tags", "created_by", "created_at", "updated_at")}
        main["tags"] = ", ".join(main["tags"])
        text = fields(main)
        if task.description:
            text += f"\n\n{task.description}"
        for title, items in (("Done when", task.completion_criteria), ("Checks", task.checks)):
            if items:
                text += f"\n\n{title}:\n" + "\n".join(f"  - {item}" for item in items)
        if task.checks_running:
            text += "\n\nchecks are running ..."
        for result in task.check_results:
            mark = "passed" if result["passed"] else "FAILED"
            text += f"\n\n{mark}: {result['check']}\n" + "\n".join(f"    {line}" for line in result["output"].splitlines()[-20:])
        text += "\n\nHistory:\n" + "\n".join(
            f"  {e.created_at:%Y-%m-%d %H:%M:%S} {e.from_status or '-'} -> {e.to_status} by {e.by or '-'}"
            + (f": {e.note}" if e.note else "") for e in task.events.all())
        self.emit(options, data, f"{headline}\n{text}" if headline else text)

    def _given(self, options, names) -> dict:
        return {name: options[name] for name in names if options.get(name) is not None}

    def do_create(self, options):
        data = self._given(options, ["description", "priority", "completion_criteria", "estimated_hours", "tags",
                                     "checks"])
        task = services.task_create(
            title=options["title"], **data, project_path=options["project_path"], created_by="cli",
            assigned_to=agent_get(target=options["assign"]) if options["assign"] else None,
            team=team_get(name=options["team"]) if options["team"] else None,
        )
        self._show(options, task.pk, f"created task #{task.pk}")

    def do_list(self, options):
        if options["limit"] < 1 or options["offset"] < 0:
            raise CommandError("--limit must be at least 1 and --offset at least 0")
        tasks = selectors.task_list(
            status=options["status"], priority=options["priority"], tag=options["tag"], team=options["team"],
            assigned_to=agent_get(target=options["assigned_to"]) if options["assigned_to"] else None,
        )[options["offset"]:options["offset"] + options["limit"]]
        data = TaskSerializer(tasks, many=True).data
        self.emit(options, data, table(data, LIST_COLUMNS) if data else "no tasks")

    def do_show(self, options):
        self._show(options, options["id"])

    def do_assign(self, options):
        task = services.task_assign(task=selectors.task_get(task_id=options["id"]),
                                    agent=agent_get(target=options["target"]), by="cli")
        self._show(options, task.pk, f"task #{task.pk} assigned to {options['target']}; its brief is on the way")

    def do_update(self, options):
        task = selectors.task_get(task_id=options["id"])
        changes = self._given(options, ["title", "description", "priority", "completion_criteria",
                                        "estimated_hours", "tags", "checks"])
        if not changes and not options["status"]:
            raise CommandError("nothing to change: give --status or a field to change")
        if changes:
            task = services.task_update(task=task, by="cli", **changes)
        if options["status"]:
            task = services.task_set_status(task=task, status=options["status"], note=options["note"], by="cli")
        self._show(options, task.pk, f"task #{task.pk} is {task.status}"
                   + (" (checks running)" if task.checks_running else ""))
