"""tmux-orc agent spawn|list|status|explain|restart|kill|approve|deny|send|history: calls to
the REST API, as whoever the client's token names (orchestrator.client)."""

import os
import sys
import textwrap
from datetime import datetime

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agents.models import MessageStatus, Signal
from orchestrator.management.base import OrchestratorCommand
from orchestrator.management.watch import add_watch_argument, watch
from orchestrator.output import fields, table, to_json

LIST_COLUMNS = ["target", "state", "agent_type", "profile", "host", "tmux_pane_id", "last_activity_at"]
STILL_PENDING = 3  # exit code: asked, but not confirmed within the wait


def _indent(text: str) -> str:
    return textwrap.indent(text, "    ")


def _clock(moment: datetime, now: datetime) -> str:
    """`12:03:04`, with the date when it is not today."""
    local = timezone.localtime(moment)
    return f"{local:%H:%M:%S}" if local.date() == timezone.localtime(now).date() else f"{local:%Y-%m-%d %H:%M:%S}"


def _when(moment: datetime, now: datetime) -> str:
    """`12:03:04 (2 min ago)`."""
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{_clock(moment, now)} ({seconds // size} {unit} ago)"
    return f"{_clock(moment, now)} ({seconds} s ago)"


def _explanation(data: dict, now: datetime) -> str:
    """`agent_explain` in a few lines for a person."""
    told = data["signal"] or "no change of state recorded"
    lines = [f"{data['target']} is {data['state']} since {_when(data['state_changed_at'], now)}",
             f"  told by: {told}" + (f" ({data['state_reason']})" if data["state_reason"] else ""),
             *_screen_lines(data["screen"], now)]
    hook = data["hook"]
    if hook is None:
        lines.append("  last hook: none")
    else:
        lines.append(f"  last hook: {hook['event']} ({hook['state'] or 'no state'}) at {_when(hook['at'], now)}"
                     + ("; it still outranks the screen" if hook["outranks_screen"] else ""))
    lines.append("  recent changes:" + ("" if data["recent_events"] else " none"))
    lines += [f"    {_clock(e['created_at'], now)} -> {e['to_state']} ({e['signal'] or '-'}): {e['reason']}"
              for e in data["recent_events"]]
    return "\n".join(lines)


def _screen_lines(screen: dict | None, now: datetime) -> list[str]:
    if screen is None:
        return ["  screen: never read"]
    looked = "tmux, seen" if screen["signal"] == Signal.PROCESS else "screen, read"
    matched = f" — {'; '.join(screen['matched'])}" if screen["matched"] else ""
    return [f"  {looked} {_when(screen['read_at'], now)}: {screen['state'] or 'unclear'}{matched}",
            *(f"    | {line}" for line in screen["lines"])]


class Command(OrchestratorCommand):
    help = "Spawn, list, inspect, restart and kill agents; send them messages; answer their prompts."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        spawn = actions.add_parser("spawn", help="start an agent in a new tmux window")
        spawn.add_argument("session_name", help="tmux session (created if missing)")
        spawn.add_argument("agent_type", help="developer, pm, qa, ... or a custom type")
        spawn.add_argument("project_path", help="directory the agent works in (relative to here)")
        spawn.add_argument("--profile", help="agent program (claude, codex, aider, gemini, shell, ...)")
        spawn.add_argument("--name", help="window name (default <Profile>-<agent_type>)")
        spawn.add_argument("--briefing", default="", help="briefing message")
        spawn.add_argument("--host", help="agent host to run it on, or auto (default: the service's default_host)")
        listing = actions.add_parser("list", help="list agents")
        listing.add_argument("--all", action="store_true", help="include stopped agents")
        listing.add_argument("--session", help="only this session")
        status = actions.add_parser("status", help="one agent's state and health")
        status.add_argument("target", help="session:window")
        status.add_argument("--activity", action="store_true", help="include recent activity")
        add_watch_argument(status)
        explain = actions.add_parser("explain", help="why the agent is in its state: signal, screen read, last hook")
        explain.add_argument("target", help="session:window")
        for name, text in [("kill", "remove the agent's window"),
                           ("deny", "refuse the permission prompt on the agent's screen")]:
            actions.add_parser(name, help=text).add_argument("target", help="session:window")
        restart = actions.add_parser("restart", help="restart the agent's program (resuming its conversation where "
                                                     "its profile can)")
        restart.add_argument("target", help="session:window")
        restart.add_argument("--fresh", action="store_true", help="start a new conversation and brief it again")
        approve = actions.add_parser("approve", help="approve the permission prompt on the agent's screen")
        approve.add_argument("target", help="session:window")
        approve.add_argument("--choice", type=int, help="the option number to pick (default: the first)")
        send = actions.add_parser("send", help="send a message (typed when the agent is idle)")
        send.add_argument("target", help="session:window")
        send.add_argument("text", help="the message; use - to read it from standard input")
        send.add_argument("--urgent", action="store_true", help="interrupt the agent to deliver it now")
        send.add_argument("--wait", type=float, default=30, help="seconds to wait for delivery (default 30)")
        history = actions.add_parser("history", help="the agent's messages and what it answered")
        history.add_argument("target", help="session:window")
        history.add_argument("--limit", type=int, help="how many of the latest (default: the API's, 50)")
        for sub in actions.choices.values():
            super().add_arguments(sub)

    def handle(self, *args, **options):
        getattr(self, f"do_{options['action']}")(options)

    def do_spawn(self, options):
        self._outcome(options, "agents_spawn", session_name=options["session_name"], agent_type=options["agent_type"],
                      project_path=os.path.abspath(os.path.expanduser(options["project_path"])),
                      briefing_message=options["briefing"], profile=options["profile"], name=options["name"],
                      host=options["host"])

    def do_restart(self, options):
        self._outcome(options, "agents_restart", target=options["target"], resume=not options["fresh"])

    def do_kill(self, options):
        self._outcome(options, "agents_kill", target=options["target"])

    def do_approve(self, options):
        self._outcome(options, "agents_approve", target=options["target"], choice=options["choice"])

    def do_deny(self, options):
        self._outcome(options, "agents_deny", target=options["target"])

    def do_send(self, options):
        text = sys.stdin.read() if options["text"] == "-" else options["text"]
        message = self.call("messages_send", target=options["target"], message=text, urgent=options["urgent"],
                            wait=max(0.0, options["wait"])).data
        self.emit(options, message, f"message {message['id']} to {message['target']}: {message['status']}"
                  + (f" ({message['error']})" if message["error"] else ""))
        if message["status"] in (MessageStatus.FAILED, MessageStatus.EXPIRED):
            raise CommandError(message["error"] or message["status"])
        if message["status"] != MessageStatus.DELIVERED:
            raise CommandError("not delivered yet; it stays queued", returncode=STILL_PENDING)

    def do_history(self, options):
        messages = self.call("messages_history", target=options["target"], limit=options["limit"]).data
        blocks = []
        for m in messages:
            when = f"{parse_datetime(m['created_at']):%Y-%m-%d %H:%M:%S}"
            blocks.append(f"[{when}] {m['kind']} from {m['sender'] or '-'} ({m['status']}):\n{_indent(m['body'])}")
            if m["reply"]:
                blocks.append(f"  answered:\n{_indent(m['reply'])}")
        self.emit(options, messages, "\n".join(blocks) if blocks else "no messages")

    def do_list(self, options):
        data = self.call("agents_list", include_stopped=options["all"], session_name=options["session"]).data
        shown = [{**row, "host": row["host"] + (" (down)" if row["host_down"] else "")} for row in data]
        self.emit(options, data, table(shown, LIST_COLUMNS) if data else "no agents")

    def do_status(self, options):
        def render() -> str:
            data = self.call("agents_status", target=options["target"], include_activity=options["activity"]).data
            if options["json"]:
                return to_json(data)
            text = fields({k: v for k, v in data.items() if k != "activity_summary"})
            if options["activity"]:
                text += "\nactivity:\n" + "\n".join(f"  {line}" for line in data["activity_summary"])
            return text

        watch(self.stdout.write, render, options["watch"])

    def do_explain(self, options):
        data = self.call("agents_status", target=options["target"], explain=True).data["explain"]
        self.emit(options, data, _explanation(_with_times(data), timezone.now()))

    def _outcome(self, options, operation: str, **arguments):
        """An operation on an agent: what the worker did, within the wait the server allows."""
        reply = self.call(operation, accept=(422,), **arguments)
        self.emit(options, reply.data, reply.data["detail"])
        if reply.error is not None:
            raise CommandError(reply.error)
        if reply.status == 202:
            raise CommandError("not confirmed yet; is the worker running (tmux-orc server start)?",
                               returncode=STILL_PENDING)


def _with_times(data: dict) -> dict:
    """The explanation with its times as datetimes again (JSON gives text)."""
    moment = lambda value: parse_datetime(value) if value else value  # noqa: E731
    out = {**data, "state_changed_at": moment(data["state_changed_at"])}
    if data["screen"]:
        out["screen"] = {**data["screen"], "read_at": moment(data["screen"]["read_at"])}
    if data["hook"]:
        out["hook"] = {**data["hook"], "at": moment(data["hook"]["at"])}
    out["recent_events"] = [{**e, "created_at": moment(e["created_at"])} for e in data["recent_events"]]
    return out
