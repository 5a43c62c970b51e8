"""tmux-orc task create|list|show|assign|update: calls to the REST API, as whoever the
client's token names (orchestrator.client). An update with --status is all or nothing."""

from orchestrator.management.base import OrchestratorCommand
from orchestrator.output import cell, fields, table
from tasks.models import TaskPriority, TaskStatus

LIST_COLUMNS = ["id", "status", "priority", "title", "assigned_to", "team", "updated_at"]


def _fields(parser, *, create: bool) -> None:
    parser.add_argument("--description", help="what is to be done")
    parser.add_argument("--priority", choices=TaskPriority.values, help="default: medium" if create else None)
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
        create.add_argument("--project-path", help="where its checks run (default: the assignee's)")
        listing = actions.add_parser("list", help="list tasks, newest first")
        listing.add_argument("--status", choices=TaskStatus.values)
        listing.add_argument("--priority", choices=TaskPriority.values)
        listing.add_argument("--assigned-to", metavar="TARGET")
        listing.add_argument("--tag")
        listing.add_argument("--team")
        listing.add_argument("--limit", type=int, help="how many (default: the API's, 50)")
        listing.add_argument("--offset", type=int, help="how many to skip first")
        actions.add_parser("show", help="a task with its history and check results").add_argument("id", type=int)
        assign = actions.add_parser("assign", help="give a task to an agent (it gets the brief)")
        assign.add_argument("id", type=int)
        assign.add_argument("target", help="session:window")
        update = actions.add_parser("update", help="change a task, or move its status")
        update.add_argument("id", type=int)
        update.add_argument("--status", choices=TaskStatus.values, help="move it to this status")
        update.add_argument("--note", help="why (with --status)")
        update.add_argument("--title")
        _fields(update, create=False)
        for sub in actions.choices.values():
            super().add_arguments(sub)

    def handle(self, *args, **options):
        getattr(self, f"do_{options['action']}")(options)

    def _show(self, options, data: dict, headline: str = "") -> None:
        main = {k: data[k] for k in ("id", "title", "status", "priority", "assigned_to", "team", "estimated_hours",
                                     "tags", "created_by", "created_at", "updated_at")}
        main["tags"] = ", ".join(main["tags"])
        text = fields(main)
        if data["description"]:
            text += f"\n\n{data['description']}"
        for title, items in (("Done when", data["completion_criteria"]), ("Checks", data["checks"])):
            if items:
                text += f"\n\n{title}:\n" + "\n".join(f"  - {item}" for item in items)
        if data["checks_running"]:
            text += "\n\nchecks are running ..."
        for result in data["check_results"]:
            mark = "passed" if result["passed"] else "FAILED"
            output = result.get("output") or ""
            text += f"\n\n{mark}: {result['check']}\n" + "\n".join(f"    {line}" for line in output.splitlines()[-20:])
        text += "\n\nHistory:\n" + "\n".join(
            f"  {cell(e['created_at'])} {e['from_status'] or '-'} -> {e['to_status']} by {e['by'] or '-'}"
            + (f": {e['note']}" if e["note"] else "") for e in data["events"])
        self.emit(options, data, f"{headline}\n{text}" if headline else text)

    def _given(self, options, names) -> dict:
        return {name: options[name] for name in names if options.get(name) is not None}

    def do_create(self, options):
        data = self._given(options, ["description", "priority", "completion_criteria", "estimated_hours", "tags",
                                     "checks", "project_path", "team"])
        task = self.call("tasks_create", title=options["title"], assigned_to=options["assign"], **data).data
        self._show(options, task, f"created task #{task['id']}")

    def do_list(self, options):
        page = self.call("tasks_list", **self._given(options, ["status", "priority", "assigned_to", "tag", "team",
                                                                "limit", "offset"])).data
        tasks = page["tasks"]
        self.emit(options, tasks, table(tasks, LIST_COLUMNS) if tasks else "no tasks")

    def do_show(self, options):
        self._show(options, self.call("tasks_get", id=options["id"]).data)

    def do_assign(self, options):
        task = self.call("tasks_assign", id=options["id"], target=options["target"]).data
        self._show(options, task, f"task #{task['id']} assigned to {options['target']}; its brief is on the way")

    def do_update(self, options):
        changes = self._given(options, ["title", "description", "priority", "completion_criteria",
                                        "estimated_hours", "tags", "checks", "status", "note"])
        task = self.call("tasks_update", id=options["id"], **changes).data
        self._show(options, task, f"task #{task['id']} is {task['status']}"
                   + (" (checks running)" if task["checks_running"] else ""))
