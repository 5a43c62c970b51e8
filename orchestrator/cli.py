"""`tmux-orc`: the project's management commands under one name.

`tmux-orc agent list` is `python manage.py agent list`. A configuration error is printed
as one line naming the setting, never as a traceback.
"""

from __future__ import annotations

import os
import sys

USAGE = """usage: tmux-orc [--verbose] [--version] COMMAND ...

Commands:
  agent spawn|list|status|explain|restart|kill
                                         manage agents (tmux-orc agent --help)
  team deploy|status|list|broadcast|recover|teardown|standup
                                         teams of agents (tmux-orc team --help)
  task create|list|show|assign|update    tasks given to agents
  orchestrator schedule|scheduled|cancel check-ins: a note to an agent later
  status [--watch]                       system health and agents by state
  monitor agents idle|performance        what the agents are doing; monitor metrics
  monitor hosts                          agent hosts: worker alive, agents by state, load
  server start [--host] [--port] [--workers] [--reload]
                                         run the web server, worker, watcher and beat
  watcher                                this host's watcher alone (server start runs it)
  profiles list|check                    agent profiles; is each program the version its
                                         screen markers were read from?
  token create|list|revoke               API tokens
  mcp                                    the MCP server on stdin/stdout (HTTP: /mcp)
  vscode init [PATH]                     VS Code tasks and settings for PATH's .vscode/
  createsuperuser                        a login for the admin
  help                                   every management command

Add --json to agent, team, task and status commands for output meant for scripts.
"""


def run_management(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    from orchestrator.config import ConfigError

    try:
        import django

        django.setup()
    except ConfigError as error:
        print(f"tmux-orc: configuration error: {error}", file=sys.stderr)
        return 2
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--verbose" in args:
        args.remove("--verbose")
        os.environ["TMUX_ORC_LOG_LEVEL"] = "DEBUG"
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if args[0] == "--version":
        from orchestrator import __version__

        print(f"tmux-orc {__version__}")
        return 0
    if args[0] == "help" and len(args) == 1:
        args = ["help", "--commands"]
    if (refusal := refused_in_a_pane(args)) is not None:
        print(f"tmux-orc: {refusal}", file=sys.stderr)
        return 2
    return run_management(["tmux-orc", *args])


# What only the service's own user runs on its machine: never from inside an agent's pane.
SERVER_ONLY = ("server", "migrate", "createsuperuser", "token", "changepassword", "shell", "dbshell", "flush")


def refused_in_a_pane(args: list[str]) -> str | None:
    """Why `args` may not run here, if this is an agent's pane (its launcher gave it
    TMUX_ORC_AGENT_ID); None otherwise. A guard against an agent talked into it, not a wall:
    agents run as the service's user (the README says what that means)."""
    agent = os.environ.get("TMUX_ORC_AGENT_TARGET") or os.environ.get("TMUX_ORC_AGENT_ID")
    if not agent:
        return None
    if args[0] in SERVER_ONLY:
        return (f"`{args[0]}` runs on the server's machine, not inside an agent's pane (this is {agent}'s); "
                "ask a person")
    if args[0] == "mcp" and not os.environ.get("TMUX_ORC_TOKEN"):
        return f"inside an agent's pane ({agent}), `mcp` acts only for the agent's own TMUX_ORC_TOKEN, which is not set"
    return None


if __name__ == "__main__":
    sys.exit(main())
