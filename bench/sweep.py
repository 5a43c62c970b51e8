"""How long one health sweep takes for N agents, classification and database writes included.

Run: .venv/bin/python bench/sweep.py [--agents 200] [--repeat 5]
     (BENCH_PROFILE=1 also prints profiles of one quiet and one busy sweep)

Uses a private data directory (a fresh SQLite database) and a private tmux server with N
panes; prints median wall times for a sweep where nothing changed and one where every
agent's screen changed; removes everything at the end. It asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = Path(tempfile.mkdtemp(prefix="tmux-orc-bench-"))
os.environ.update(
    TMUX_ORC_DATA_DIR=str(WORKDIR / "data"), TMUX_TMPDIR=str(WORKDIR), DJANGO_SETTINGS_MODULE="orchestrator.settings",
    TMUX_ORC_TMUX_SOCKET=f"bench-{secrets.token_hex(4)}", TMUX_ORC_RECOVERY_ENABLED="false",
)
os.environ.pop("DATABASE_URL", None)
(WORKDIR / "data").mkdir()

import django  # noqa: E402

django.setup()
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from agents.gateway import WindowSpec, local_gateway, shell_command  # noqa: E402
from agents.models import Agent, AgentState  # noqa: E402
from monitoring.services import host_sweep  # noqa: E402

# Each pane prints a line when poked (SIGUSR1), so a sweep can be made to see every screen change.
PROGRAM = shell_command(["bash", "--norc", "-c", "trap 'echo tick' USR1; echo '$ '; while :; do sleep 1; done"])


def median_ms(action, repeat: int, before=None) -> float:
    times = []
    for _ in range(repeat):
        if before:
            before()
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    gateway, host = local_gateway(), settings.TMUX_ORC.agent_host
    try:
        specs = [WindowSpec("bench", f"agent-{i}", PROGRAM, str(WORKDIR)) for i in range(args.agents)]
        created = gateway.create_windows(specs)
        Agent.objects.bulk_create(
            Agent(name=s.window_name, session_name="bench", agent_type="developer", profile="shell",
                  project_path=str(WORKDIR), host=host, tmux_pane_id=w.pane_id, tmux_window_id=w.window_id,
                  tmux_session_id=w.session_id, pane_pid=w.pid, state=AgentState.STARTING)
            for s, w in zip(specs, created)
        )
        host_sweep(host=host)  # first look: every agent moves out of `starting`
        # A screen stays worth a look for one interval after its last output (tmux keeps
        # activity in whole seconds): wait that out, for the steady state of quiet agents.
        time.sleep(settings.TMUX_ORC.health_check_interval + 2)
        host_sweep(host=host)
        quiet = median_ms(lambda: host_sweep(host=host), args.repeat)
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            cProfile.runctx("host_sweep(host=host)", globals(), locals(), sort="cumtime")

        def poke_all():
            for pane in gateway.list_panes():
                if pane.pid:
                    os.kill(pane.pid, 10)
            time.sleep(1.1)  # a new second of activity for every pane

        busy = median_ms(lambda: host_sweep(host=host), args.repeat, before=poke_all)
        if os.environ.get("BENCH_PROFILE"):
            poke_all()
            cProfile.runctx("host_sweep(host=host)", globals(), locals(), sort="tottime")
        print(f"{args.agents} agents, median of {args.repeat} sweeps (classification and database writes included)")
        print(f"  nothing changed:     {quiet:8.1f} ms")
        print(f"  every screen changed: {busy:8.1f} ms")
    finally:
        gateway.kill_server()
        shutil.rmtree(WORKDIR, ignore_errors=True)


if __name__ == "__main__":
    main()
