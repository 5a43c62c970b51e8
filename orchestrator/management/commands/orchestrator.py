"""tmux-orc orchestrator schedule|scheduled|cancel: check-ins for later, through the REST API."""

from orchestrator.management.base import OrchestratorCommand
from orchestrator.output import cell, table


class Command(OrchestratorCommand):
    help = "Schedule check-ins: a note delivered to an agent some minutes from now."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        schedule = actions.add_parser("schedule", help="deliver a note to an agent MINUTES from now")
        schedule.add_argument("minutes", type=float)
        schedule.add_argument("note")
        schedule.add_argument("target", nargs="?", help="session:window (default: the orchestrator agent)")
        actions.add_parser("scheduled", help="the notes waiting for their time")
        actions.add_parser("cancel", help="call off a scheduled note").add_argument("id", type=int)
        for sub in actions.choices.values():
            super().add_arguments(sub)

    def handle(self, *args, **options):
        getattr(self, f"do_{options['action']}")(options)

    def do_schedule(self, options):
        message = self.call("messages_schedule", minutes=options["minutes"], message=options["note"],
                            target=options["target"]).data
        self.emit(options, message, f"message {message['id']} for {message['target']} at {cell(message['not_before'])}")

    def do_scheduled(self, options):
        data = self.call("messages_scheduled").data
        self.emit(options, data, table(data, ["id", "target", "not_before", "sender", "body"]) if data
                  else "nothing scheduled")

    def do_cancel(self, options):
        message = self.call("messages_cancel", id=options["id"]).data
        self.emit(options, message, f"message {message['id']} cancelled")
