"""The MCP server: every declared operation (orchestrator.operations) as a tool, over
stdio and Streamable HTTP.

A tool is named by its operation id, takes the operation's input (the path, query and body
fields of its REST call, in one object, with the same defaults) and gives the same data,
under the same permission rules; errors come back as tool errors with the same message.
Tools run in the SDK's worker threads, where the Django ORM may block.
"""

import functools
import json
from typing import Any

from rest_framework.utils.encoders import JSONEncoder
from django.db import close_old_connections, connections
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent
from pydantic import ConfigDict
from rest_framework.exceptions import ValidationError

from orchestrator import client
from orchestrator.errors import OrchestratorError
from orchestrator.operations import Operation, all_operations
from orchestrator.permissions import Caller
from orchestrator.schema import input_schemas
from orchestrator.serializers import error_text
from orchestrator.throttling import refusal, token_wait

INSTRUCTIONS = """\
TMUX Orchestrator runs AI coding agents in tmux windows. An agent is named by its target,
"session:window" (a team's agents share the session named after the team). Use agents_list
and teams_status to see who is there and what state each is in (idle, working,
waiting_approval, stuck, crashed, failed, stopped). Messages are typed into an agent's
input when it is idle; urgent ones interrupt it. Tasks move pending -> assigned ->
in_progress -> review -> done (or blocked, cancelled). Report your own progress with
agents_report: standups read it. Each tool is the REST operation of the same id."""


# --- who is calling -----------------------------------------------------------------------


class ApiTokenVerifier(TokenVerifier):
    """The service's own API tokens, as bearer tokens for /mcp."""

    async def verify_token(self, token: str) -> AccessToken | None:
        from asgiref.sync import sync_to_async

        from orchestrator.services import token_check

        found = await sync_to_async(_in_worker_thread(token_check), thread_sensitive=False)(token)
        if found is None:
            return None
        return AccessToken(token=token, client_id=str(found.pk), scopes=[])


def _caller(ctx: Context) -> Caller:
    """Who calls, read again at every call: a token revoked meanwhile no longer works."""
    from orchestrator.models import ApiToken

    access = getattr(ctx.request_context.request.scope.get("user"), "access_token", None)
    token_id = int(access.client_id) if access else None
    token = ApiToken.objects.select_related("agent").filter(pk=token_id, revoked_at=None).first()
    if token is None:
        raise ToolError("the token was revoked")
    if (wait := token_wait(token)) is not None:
        raise ToolError(refusal(token, wait))
    return Caller(f"token:{token.name}", token)


def _in_worker_thread(fn):
    """Run `fn` in one of the SDK's worker threads: its database connection is closed after,
    as Django does at the end of a request, so no idle thread keeps one open."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    return run


def tool(fn):
    """Each tool: its own database connection, and domain errors as tool errors."""

    @_in_worker_thread
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except OrchestratorError as error:
            raise ToolError(error.message) from None
        except ValidationError as error:
            raise ToolError(error_text(error.detail)) from None

    return run


# --- the tools: one per declared operation ----------------------------------------------


class Arguments(ArgModelBase):
    """A tool's arguments as given: the operation's serializers check them, as they do a
    REST request's, so both accept exactly the same input."""

    model_config = ConfigDict(extra="allow")

    def model_dump_one_level(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _output(data) -> CallToolResult:
    structured = data if isinstance(data, dict) else {"result": data}
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(data, cls=JSONEncoder))],
                          structured_content=json.loads(json.dumps(structured, cls=JSONEncoder)))


def _tool_function(op: Operation, *, through_api: bool):
    """Over HTTP, the web process runs the operation itself, for the token of the request;
    over stdio, the tool is a client of the REST API, as the CLI is, with its token."""

    @tool
    def run(ctx: Context, **arguments) -> CallToolResult:
        if through_api:
            reply = client.call(op.name, **arguments)
            data, error = reply.data, reply.error
        else:
            result = op(_caller(ctx), op.inputs(arguments))
            data, error = result.data, result.error
        if error is not None:
            raise ToolError(error)
        return _output(data)

    run.__name__ = op.name
    return run


def tools(*, through_api: bool = False) -> list[Tool]:
    """Every operation as a tool: its name, its summary and description, and the input
    schema the OpenAPI schema gives its path, query and body."""
    schemas = input_schemas()
    return [Tool(fn=_tool_function(op, through_api=through_api), name=op.name, title=op.summary, description=op.description,
                 parameters=schemas[op.name], fn_metadata=FuncMetadata(arg_model=Arguments), is_async=False,
                 context_kwarg="ctx")
            for op in all_operations().values()]


def build_server(*, http: bool = False) -> MCPServer:
    """The server with every tool; over HTTP it requires an API token."""
    from agents.services import public_url

    options: dict[str, Any] = {}
    if http:
        url = public_url()
        options = {
            "token_verifier": ApiTokenVerifier(),
            "auth": AuthSettings(issuer_url=url, resource_server_url=f"{url}/mcp", validate_token_resource=False),
        }
    server = MCPServer(name="tmux-orchestrator", instructions=INSTRUCTIONS, **options)
    for each in tools(through_api=not http):
        server._tool_manager._tools[each.name] = each  # the SDK builds tools from signatures only
    return server


def http_app():
    """The ASGI app for /mcp (and its protected-resource metadata). Origin and Host are
    checked by orchestrator.asgi, with Django's ALLOWED_HOSTS."""
    return build_server(http=True).streamable_http_app(
        streamable_http_path="/mcp", stateless_http=True, json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


def serve_stdio() -> None:
    """Serve the tools on standard input and output: each call goes to the REST API as
    TMUX_ORC_TOKEN (or the local user's client config, outside an agent's pane) names."""
    client.call("agents_list", limit=1)  # a token missing or refused: say so at once, not at the first call
    build_server().run("stdio")



