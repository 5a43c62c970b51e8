"""What every tmux-orc command shares: --json, calls to the service's API, and errors as
one clear line."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from rest_framework.exceptions import ValidationError

from orchestrator import client
from orchestrator.errors import OrchestratorError
from orchestrator.serializers import error_text
from orchestrator.output import to_json


class OrchestratorCommand(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except OrchestratorError as error:
            raise CommandError(error.message) from None
        except ValidationError as error:  # input checked before it is sent (a path parameter)
            raise CommandError(error_text(error.detail)) from None
        except DatabaseError as error:
            raise CommandError(
                f"database error: {error}. Is the database set up? Start the service once (bin/run) "
                "or run `tmux-orc migrate`."
            ) from None

    def emit(self, options, data, text: str) -> None:
        self.stdout.write(to_json(data) if options.get("json") else text)

    def call(self, operation: str, /, *, accept: tuple[int, ...] = (), **arguments) -> client.Reply:
        """The `operation` through the REST API (see orchestrator.client); an error the
        API answers is this command's error, unless its status is one of `accept`."""
        reply = client.call(operation, **arguments)
        if reply.error is not None and reply.status not in accept:
            raise CommandError(reply.error)
        return reply
