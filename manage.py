#!/usr/bin/env python
"""Django's command-line utility; `tmux-orc` runs the same commands."""

import sys

from orchestrator.cli import run_management

if __name__ == "__main__":
    sys.exit(run_management(sys.argv))
