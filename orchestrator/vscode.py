"""`tmux-orc vscode init [PATH]`: VS Code tasks and settings for a workspace.

The tasks are the product description's (open every agent's terminal, or one, start the
server, open the API docs, show the system status), built from the agents the service runs,
fetched through the REST API as every other command does. The tasks this command owns are
the ones whose label starts with `tmux-orc: `: it replaces those and keeps the rest of an
existing `tasks.json`; in `settings.json` it sets only the `tmux-orchestrator.*` keys.
Nothing is written unless everything could be read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import CommandError

from orchestrator import client
from orchestrator.management.base import OrchestratorCommand
from orchestrator.serializers import MAX_PAGE

PREFIX = "tmux-orc: "  # marks the tasks this command owns
ALL_AGENTS = PREFIX + "Open ALL Agent Terminals"
START_SERVER = PREFIX + "Start Server"
API_DOCS = PREFIX + "View API Documentation"
SYSTEM_STATUS = PREFIX + "Monitor System Status"
SETTING = "tmux-orchestrator."
HOST, PORT = "${config:tmux-orchestrator.server.host}", "${config:tmux-orchestrator.server.port}"
TASKS_VERSION = "2.0.0"


def agent_label(target: str) -> str:
    return f"{PREFIX}Open agent {target}"


# --- reading what is there ---------------------------------------------------------------

STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*.*?\*/', re.DOTALL)
STRING_OR_TRAILING_COMMA = re.compile(r'"(?:[^"\\\n]|\\.)*"|,(?=\s*[}\]])')


def parse_jsonc(text: str) -> tuple[object, bool]:
    """JSON with comments and trailing commas, as VS Code reads its files; and whether it
    had comments (they cannot be kept)."""
    comments = []

    def drop_comment(match):
        if match.group(0).startswith('"'):
            return match.group(0)
        comments.append(match.group(0))
        return " "

    text = STRING_OR_COMMENT.sub(drop_comment, text)
    text = STRING_OR_TRAILING_COMMA.sub(lambda m: m.group(0) if m.group(0).startswith('"') else "", text)
    return (json.loads(text) if text.strip() else {}), bool(comments)


@dataclass
class Existing:
    """A JSON object file of the workspace as found (empty if missing)."""

    path: Path
    content: dict = field(default_factory=dict)
    found: bool = False
    had_comments: bool = False


def read_object(path: Path) -> Existing:
    if not path.exists():
        return Existing(path)
    try:
        content, had_comments = parse_jsonc(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read {path}: {error}") from None
    except ValueError as error:
        raise CommandError(f"{path} is not valid JSON ({error}); fix or move it, then run this again") from None
    if not isinstance(content, dict):
        raise CommandError(f"{path} does not hold a JSON object; fix or move it, then run this again")
    return Existing(path, content, True, had_comments)


def read_tasks(path: Path) -> Existing:
    existing = read_object(path)
    tasks, version = existing.content.get("tasks", []), existing.content.get("version", TASKS_VERSION)
    if not isinstance(tasks, list):
        raise CommandError(f"{path}: \"tasks\" is not a list; fix or move it, then run this again")
    if version != TASKS_VERSION:
        raise CommandError(f"{path} is a version {version!r} tasks file; tmux-orc writes version {TASKS_VERSION}")
    return existing


# --- what to write -----------------------------------------------------------------------

@dataclass(frozen=True)
class Service:
    """Where the service is, as this client reaches it; the tasks use host and port
    through the workspace's settings."""

    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def of_url(cls, url: str) -> Service:
        parts = urlsplit(url)
        return cls(parts.scheme or "http", parts.hostname or "127.0.0.1",
                   parts.port or (443 if parts.scheme == "https" else 80), parts.path.rstrip("/"))

    @property
    def url_from_settings(self) -> str:
        return f"{self.scheme}://{HOST}:{PORT}{self.path}"


def own_command() -> str:
    """How a task runs this tmux-orc: by name if that is what PATH finds, else by its path."""
    here = Path(sys.executable).parent / "tmux-orc"
    found = shutil.which("tmux-orc")
    if found and here.exists() and Path(found).resolve() == here.resolve():
        return "tmux-orc"
    return str(here) if here.exists() else "tmux-orc"


def agent_task(agent: dict, socket_name: str) -> dict:
    """A terminal on the agent's window. Through a session of its own, grouped with the
    agent's (and gone when the terminal closes): terminals on two agents of one session
    each show their own window."""
    return {
        "label": agent_label(agent["target"]),
        "detail": f"{agent['agent_type']} ({agent['profile']}): its tmux window",
        "type": "process",
        "command": "tmux",
        "args": ["-L", socket_name, "new-session", "-t", f"={agent['session']}", ";",
                 "set-option", "destroy-unattached", "on", ";", "select-window", "-t", f":={agent['window']}"],
        "presentation": {"reveal": "always", "focus": True, "panel": "dedicated", "clear": True},
        "problemMatcher": [],
    }


def owned_tasks(agents: list[dict], service: Service, *, autostart: bool) -> list[dict]:
    command, terminal = own_command(), {"reveal": "always", "panel": "dedicated", "clear": True}
    tasks = [agent_task(agent, settings.TMUX_ORC.tmux_socket) for agent in agents]
    if agents:
        tasks.insert(0, {"label": ALL_AGENTS, "detail": "a terminal on each agent's tmux window",
                         "dependsOn": [task["label"] for task in tasks], "dependsOrder": "parallel",
                         "problemMatcher": []})
    server = {"label": START_SERVER, "detail": "tmux-orc server start: web server, worker, watcher and beat",
              "type": "process", "command": command, "args": ["server", "start", "--port", PORT],
              "presentation": terminal, "problemMatcher": []}
    if autostart:
        server["runOptions"] = {"runOn": "folderOpen"}
    docs = {"label": API_DOCS, "detail": "the OpenAPI docs in your browser ($BROWSER if set)",
            "type": "process", "command": sys.executable,
            "args": ["-m", "webbrowser", "-t", f"{service.url_from_settings}/docs"],
            "presentation": {"reveal": "always", "panel": "shared"}, "problemMatcher": []}
    status = {"label": SYSTEM_STATUS, "detail": "tmux-orc status: health checks, agents by state and host",
              "type": "process", "command": command, "args": ["status"],
              "options": {"env": {"TMUX_ORC_URL": service.url_from_settings}},
              "presentation": terminal, "problemMatcher": []}
    return [*tasks, server, docs, status]


def merged_tasks(existing: Existing, owned: list[dict]) -> tuple[dict, int]:
    """The tasks file with this command's tasks replaced; and how many of the user's it kept."""
    theirs = [t for t in existing.content.get("tasks", [])
              if not (isinstance(t, dict) and str(t.get("label", "")).startswith(PREFIX))]
    return {**existing.content, "version": TASKS_VERSION, "tasks": [*theirs, *owned]}, len(theirs)


def workspace_settings(existing: Existing, service: Service) -> dict:
    """The product description's settings, from this client's configuration; `autostart`
    (start the server when the folder opens) stays as the user set it, off at first."""
    autostart = existing.content.get(SETTING + "autostart")
    return {**existing.content,
            SETTING + "server.host": service.host,
            SETTING + "server.port": service.port,
            SETTING + "autostart": autostart if isinstance(autostart, bool) else False,
            SETTING + "monitoring.enabled": settings.TMUX_ORC.metrics_enabled}


def write_json(path: Path, content: dict) -> None:
    """Replace the file whole, never half-written."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(content, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


# --- the command -------------------------------------------------------------------------

class Command(OrchestratorCommand):
    help = "VS Code tasks for this workspace's agents, the server, the API docs and the status."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        init = actions.add_parser("init", help="write .vscode/tasks.json and .vscode/settings.json in PATH, "
                                               "keeping tasks and settings that are not tmux-orc's")
        init.add_argument("path", nargs="?", default=".", help="the workspace folder (default: here)")
        super().add_arguments(init)

    def handle(self, *args, **options):
        folder = Path(options["path"]).expanduser().absolute()
        if not folder.is_dir():
            raise CommandError(f"{options['path']}: not a directory")
        vscode = folder / ".vscode"
        if vscode.exists() and not vscode.is_dir():
            raise CommandError(f"{vscode} is not a directory")
        tasks_file, settings_file = read_tasks(vscode / "tasks.json"), read_object(vscode / "settings.json")
        service = Service.of_url(client.connection()[0])
        agents, elsewhere = self.agents_here()
        config = workspace_settings(settings_file, service)
        owned = owned_tasks(agents, service, autostart=config[SETTING + "autostart"])
        tasks, kept = merged_tasks(tasks_file, owned)
        try:
            vscode.mkdir(exist_ok=True)
            write_json(tasks_file.path, tasks)
            write_json(settings_file.path, config)
        except OSError as error:
            raise CommandError(f"cannot write in {vscode}: {error}") from None
        summary = {"tasks_file": str(tasks_file.path), "settings_file": str(settings_file.path),
                   "tasks": [task["label"] for task in owned], "kept_tasks": kept,
                   "settings": {k: v for k, v in config.items() if k.startswith(SETTING)},
                   "agents_elsewhere": [a["target"] for a in elsewhere]}
        self.emit(options, summary, self.report(summary, tasks_file, settings_file, elsewhere))

    def agents_here(self) -> tuple[list[dict], list[dict]]:
        """The live agents, all pages of them: those on this machine's tmux server, and the
        ones on other hosts (their terminals open there, not here)."""
        agents, offset = [], 0
        while True:
            reply = self.call("agents_list", limit=MAX_PAGE, offset=offset)
            agents += reply.data
            offset += len(reply.data)
            total = int({k.lower(): v for k, v in reply.headers.items()}.get("x-total-count", offset))
            if not reply.data or offset >= total:
                break
        here = settings.TMUX_ORC.agent_host
        return [a for a in agents if a["host"] == here], [a for a in agents if a["host"] != here]

    @staticmethod
    def report(summary: dict, tasks_file: Existing, settings_file: Existing, elsewhere: list[dict]) -> str:
        def verb(existing: Existing) -> str:
            dropped = " (its comments were not kept)" if existing.had_comments else ""
            return f"{'updated' if existing.found else 'wrote'} {existing.path}{dropped}"

        lines = [f"{verb(tasks_file)}: {len(summary['tasks'])} tmux-orc tasks"
                 + (f", {summary['kept_tasks']} of yours kept" if summary["kept_tasks"] else ""),
                 *(f"  {label}" for label in summary["tasks"]),
                 f"{verb(settings_file)}:",
                 *(f"  {key}: {json.dumps(value)}" for key, value in summary["settings"].items())]
        if elsewhere:
            lines.append(f"no terminal task for {len(elsewhere)} agent(s) on other hosts (this is "
                         f"{settings.TMUX_ORC.agent_host}): "
                         + ", ".join(f"{a['target']} on {a['host']}" for a in elsewhere))
        lines.append("Run them in VS Code: Ctrl+Shift+P, Tasks: Run Task. Run this again when agents come or go.")
        return "\n".join(lines)
