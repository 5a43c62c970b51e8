"""tmux-orc vscode init [PATH]: see orchestrator.vscode."""

from orchestrator.vscode import Command  # noqa: F401 (the command Django finds here)
