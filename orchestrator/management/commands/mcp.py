"""tmux-orc mcp: the MCP server on standard input and output, for `claude mcp add` and
other MCP clients. Streamable HTTP is served by the web server at /mcp."""

from django.core.management.base import BaseCommand, CommandError

from orchestrator.errors import OrchestratorError


class Command(BaseCommand):
    help = ("Serve the MCP tools over stdio, each call made to the REST API (TMUX_ORC_URL) as the token in "
            "TMUX_ORC_TOKEN (agents started by the orchestrator have theirs), else as the local user's client "
            "config.")

    def handle(self, *args, **options):
        from orchestrator.mcp_server import serve_stdio

        try:
            serve_stdio()
        except OrchestratorError as error:
            raise CommandError(error.message) from None
        except KeyboardInterrupt:
            pass
