"""The web server's entry point: Django for everything, except /mcp (MCP Streamable HTTP),
which goes to the MCP SDK's app. Both answer on the same host and port."""

import os
from urllib.parse import urlsplit

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
django_app = get_asgi_application()

from django.conf import settings  # noqa: E402  (after Django is set up)
from django.http.request import split_domain_port, validate_host  # noqa: E402

from orchestrator.mcp_server import http_app  # noqa: E402

MCP_PATHS = ("/mcp", "/.well-known/oauth-protected-resource")


async def _refuse(send, status: int, text: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": text.encode()})


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _foreign(origin: str, scheme: str, host: str) -> bool:
    """Whether a web page's `Origin` may not call /mcp. Allowed: the service's own address
    (TMUX_ORC_URL), TMUX_ORC_MCP_ALLOWED_ORIGINS, and this very origin when the host is a
    loopback name or one TMUX_ORC_ALLOWED_HOSTS names (not "*": a name that merely points
    at this server, as in DNS rebinding, is not enough)."""
    config, parts = settings.TMUX_ORC, urlsplit(origin)
    if origin.rstrip("/") in config.mcp_allowed_origins:
        return False
    if config.public_url:
        own = urlsplit(config.public_url)
        if (parts.scheme, parts.netloc) == (own.scheme, own.netloc):
            return False
    if (parts.scheme, parts.netloc) != (scheme, host):
        return True
    name = split_domain_port(host)[0].strip("[]")
    named = [h for h in settings.ALLOWED_HOSTS if h != "*"]
    return not (name in LOOPBACK or (named and validate_host(name, named)))


def build_application():
    """Django, with /mcp served by a fresh MCP app (its session manager runs once per app)."""
    mcp_app = http_app()

    async def application(scope, receive, send):
        if scope["type"] == "lifespan":
            await mcp_app(scope, receive, send)  # starts and stops the MCP session manager
            return
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/mcp" or path.startswith(("/mcp/", MCP_PATHS[1]))):
            await django_app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        host = headers.get("host", "")
        if not validate_host(split_domain_port(host)[0], settings.ALLOWED_HOSTS):
            await _refuse(send, 421, f"Host {host!r} is not allowed (TMUX_ORC_ALLOWED_HOSTS)")
            return
        if "origin" in headers and _foreign(headers["origin"], scope.get("scheme", "http"), host):
            await _refuse(send, 403, f"Origin {headers['origin']!r} is not allowed: /mcp takes requests from "
                                     "MCP clients, not from web pages of other sites")
            return
        await mcp_app(scope, receive, send)

    return application


application = build_application()
