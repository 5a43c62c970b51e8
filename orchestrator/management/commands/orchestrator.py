"""tmux-orc orchestrator schedule|scheduled|cancel: check-ins for later."""

from agents import selectors, services
from agents.serializers import MessageSerializer
from orchestrator.management.base import OrchestratorCommand
from orchestrator.output import table


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
        agent = selectors.agent_get(target=options["target"]) if options["target"] else selectors.orchestrator_agent()
        message = services.message_schedule(agent=agent, body=options["note"], minutes=options["minutes"],
                                            sender="cli")
        self.emit(options, MessageSerializer(message).data,
                  f"message {message.pk} for {agent.target} at {message.not_before:%Y-%m-%d %H:%M:%S %Z}")

    def do_scheduled(self, options):
        messages = selectors.messages_scheduled()
        data = MessageSerializer(messages, many=True).data
        self.emit(options, data, table(data, ["id", "target", "not_before", "sender", "body"]) if data
                  else "nothing scheduled")

    def do_cancel(self, options):
        message = services.message_cancel(message=selectors.message_get(message_id=options["id"]), by="cli")
        self.emit(options, MessageSerializer(message).data, f"message {message.pk} cancelled")
