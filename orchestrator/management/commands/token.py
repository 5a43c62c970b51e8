"""tmux-orc token create|list|revoke."""

from orchestrator.management.base import OrchestratorCommand
from orchestrator.models import ApiToken
from orchestrator.output import table
from orchestrator.services import token_create, token_revoke


class Command(OrchestratorCommand):
    help = "Create, list and revoke API tokens. Only a digest is stored: copy a new token when shown."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("create", help="create a token and print it once").add_argument("name")
        actions.add_parser("revoke", help="revoke a token").add_argument("name")
        actions.add_parser("list", help="list tokens")
        for sub in actions.choices.values():
            super().add_arguments(sub)

    def handle(self, *args, **options):
        action = options["action"]
        if action == "create":
            token, raw = token_create(name=options["name"])
            self.emit(options, {"name": token.name, "token": raw}, raw)
        elif action == "revoke":
            token = token_revoke(name=options["name"])
            self.emit(options, {"name": token.name, "revoked_at": token.revoked_at}, f"revoked {token.name}")
        else:
            rows = list(ApiToken.objects.values("name", "prefix", "created_at", "last_used_at", "revoked_at"))
            self.emit(options, rows, table(rows, ["name", "prefix", "created_at", "last_used_at", "revoked_at"]))
