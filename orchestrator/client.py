"""The CLI's way to the service: the REST API, called by operation id, with a token.

Where and as whom, in order: `TMUX_ORC_URL` and `TMUX_ORC_TOKEN`; else the client config
that `tmux-orc server start` writes for the local user (`client.json` in the data
directory, mode 0600; `TMUX_ORC_CLIENT_CONFIG` names another). Inside an agent's pane only
the agent's own token counts: the local user's config is never read there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2 as httpx
from django.conf import settings

from orchestrator.errors import OrchestratorError
from orchestrator.operations import get_operation

TRANSPORT: httpx.BaseTransport | None = None  # tests put the service itself here, in-process
TIMEOUT = httpx.Timeout(30.0, read=4000.0)  # operations wait (standups up to an hour); a dead server is refused at once


class ServiceError(OrchestratorError):
    """The service could not be reached, or did not answer as the API does."""


@dataclass
class Reply:
    status: int
    data: Any
    error: str | None
    headers: dict


def agent_of_this_pane() -> str | None:
    """The agent whose pane this is (its launcher set these), if it is one."""
    return os.environ.get("TMUX_ORC_AGENT_TARGET") or os.environ.get("TMUX_ORC_AGENT_ID") or None


def config_path() -> Path:
    return Path(os.environ.get("TMUX_ORC_CLIENT_CONFIG") or settings.DATA_DIR / "client.json")


def local_url(host: str, port: int) -> str:
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{host}:{port}"


def write_config(url: str, token: str) -> Path:
    """The local user's client config: readable by that user only."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(json.dumps({"url": url, "token": token}) + "\n")
    return path


def _config() -> dict:
    path = config_path()
    try:
        found = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise ServiceError(f"the client config {path} cannot be read: {error}") from None
    return found if isinstance(found, dict) else {}


def connection() -> tuple[str, str]:
    """The service's URL and the token to call it with."""
    url, token = os.environ.get("TMUX_ORC_URL", ""), os.environ.get("TMUX_ORC_TOKEN", "")
    pane = agent_of_this_pane()
    if not pane and not (url and token):
        saved = _config()
        url, token = url or str(saved.get("url", "")), token or str(saved.get("token", ""))
    if not url:
        url = settings.TMUX_ORC.public_url or local_url(settings.TMUX_ORC.host, settings.TMUX_ORC.port)
    if not token:
        if pane:
            raise ServiceError(f"inside an agent's pane ({pane}) the CLI acts only with the agent's own "
                               "TMUX_ORC_TOKEN, which is not set")
        raise ServiceError(f"no API token: set TMUX_ORC_URL and TMUX_ORC_TOKEN, or start the service on this "
                           f"machine once (`tmux-orc server start` writes {config_path()})")
    return url.rstrip("/"), token


def _query_value(value):
    return ("true" if value else "false") if isinstance(value, bool) else value


def call(name: str, /, **arguments) -> Reply:
    """Call the operation `name` with `arguments` (path, query and body fields together, as
    an MCP tool takes them); None means "not given", so the server's default applies."""
    op = get_operation(name)
    given = {k: v for k, v in arguments.items() if v is not None}
    path = op.path.format(**{p.name: quote(str(p.value(given.pop(p.name, None))), safe="") for p in op.params})
    query_fields = set(op.query().fields) if op.query else set()
    if op.method == "GET":
        query, body = given, None
    else:
        query = {k: v for k, v in given.items() if k in query_fields}
        body = {k: v for k, v in given.items() if k not in query_fields}
    url, token = connection()
    try:
        with httpx.Client(base_url=url, transport=TRANSPORT, timeout=TIMEOUT) as client:
            response = client.request(op.method, path, params={k: _query_value(v) for k, v in query.items()},
                                      json=body if op.body else None,
                                      headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as error:
        raise ServiceError(f"cannot reach the service at {url} ({error}); is it running (tmux-orc server "
                           "start), and is TMUX_ORC_URL right?") from None
    return _reply(response, url)


def _reply(response: httpx.Response, url: str) -> Reply:
    try:
        body = response.json()
        data, error = body["data"], body["error_message"]
    except (ValueError, KeyError, TypeError):
        raise ServiceError(f"{url} did not answer as the orchestrator's API does (HTTP {response.status_code})") from None
    if response.status_code == 401:
        where = "TMUX_ORC_TOKEN" if os.environ.get("TMUX_ORC_TOKEN") else str(config_path())
        raise ServiceError(f"the service refused the token from {where}: {error}")
    return Reply(response.status_code, data, error, dict(response.headers))
