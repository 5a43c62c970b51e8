"""tmux-orc profiles list|check: the agent profiles configured here, and whether each
program installed on this machine is the version its screen markers were read from.

Run it on an agent host: it runs the programs found there (no call to the service)."""

from __future__ import annotations

import sys
from dataclasses import asdict

from django.core.management.base import CommandError

from agents.profiles import all_profiles, versions_check
from orchestrator.management.base import OrchestratorCommand
from orchestrator.output import table


class Command(OrchestratorCommand):
    help = "The agent profiles configured here; `check` runs each program's version command."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        actions = parser.add_subparsers(dest="action", required=True, metavar="list|check")
        actions.add_parser("list", help="each profile's command and input style")
        check = actions.add_parser(
            "check", help="is each installed program the version its screen markers were read from? "
                          "(exit 1 if one is not)")
        check.add_argument("names", nargs="*", metavar="PROFILE", help="only these profiles")

    def handle(self, *args, **options):
        if options["action"] == "list":
            rows = [{"profile": p.name, "command": p.command, "input": p.input_style or "-", "version": p.version or "-",
                     "resumes with": " ".join(p.resume_args) or "-"} for p in all_profiles().values()]
            return self.emit(options, rows, table(rows, ["profile", "command", "input", "version", "resumes with"]))
        profiles = all_profiles()
        unknown = [name for name in options["names"] if name not in profiles]
        if unknown:
            raise CommandError(f"no profile {', '.join(unknown)}; configured: {', '.join(profiles)}", returncode=2)
        chosen = {name: profiles[name] for name in options["names"]} if options["names"] else profiles
        checks = versions_check(chosen)
        rows = [asdict(check) for check in checks]
        self.emit(options, rows, table(rows, ["profile", "program", "expected", "found", "status", "detail"]))
        if any(check.mismatch for check in checks):
            sys.exit(1)
