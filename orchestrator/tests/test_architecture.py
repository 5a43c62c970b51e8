"""The layers hold (.importlinter): interfaces over monitoring, over teams and tasks, over
agents, over the foundations in orchestrator/; and services enqueue jobs by name."""

import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_every_import_contract_is_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout and result.stdout.count("KEPT") == 5
