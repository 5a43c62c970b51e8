"""What the dashboard's overview costs the browser with many agents, and how soon a card
follows a change of state.

Run: .venv/bin/python bench/dashboard.py [--agents 200] [--teams 10] [--rounds 20] [--per-round 10]

Starts the real service (`bin/run` through bench/service.py) in a temporary place, writes
--agents agent rows into its database in --teams teams (on a host no worker serves, so no
sweep touches them), and opens the overview in Debian's Chromium (Playwright, headless) with
the banner's login link. Then, --rounds times, it moves --per-round agents to another state
(as the watcher would: a state row and the doorbell) and waits until every one of those cards
shows it. It prints the page's first load, each card's delay from the state row to the card
(p50, p95, max), and what the browser spent per change: script, style and layout time from
Chromium's own counters (CDP Performance.getMetrics), and the card requests made. It asserts
nothing. The service is stopped and the directory removed at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.service import Service  # noqa: E402
from bench.watcher import django_setup  # noqa: E402

STATES = ["idle", "working", "waiting_approval", "stuck"]


def make_agents(count: int, teams: int) -> list:
    from agents.models import Agent
    from teams.models import Team

    made = []
    for t in range(teams):
        team = Team.objects.create(name=f"team{t:02d}", project_path="/tmp")
        for i in range(t, count, teams):
            made.append(Agent.objects.create(name=f"agent{i:03d}", session_name=team.name, agent_type="developer",
                                             profile="shell", project_path="/tmp", team=team, host="bench-no-worker",
                                             state="idle"))
    return made


def metrics(cdp) -> dict[str, float]:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--per-round", type=int, default=10)
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("bench/dashboard.py needs Debian's chromium: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    service = Service(workdir)
    try:
        service.start()
        link = [m.group(1) for m in (re.search(r"Dashboard:\s+(\S+)", line) for line in service.lines) if m][-1]
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API keeps a loop in this thread
        django_setup(service, "")
        from agents.models import Agent
        from orchestrator.changes import rows_changed

        agents = make_agents(args.agents, args.teams)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            requests = []
            page.on("request", lambda r: requests.append(r.url) if "/dashboard/cards" in r.url else None)
            started = time.monotonic()
            page.goto(link)
            page.wait_for_selector(f"#agent-{agents[-1].pk}")
            load_ms = (time.monotonic() - started) * 1000
            page.wait_for_function("document.getElementById('live-status').textContent === 'live'")
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            before = metrics(cdp)
            delays = []
            changes = 0
            for _ in range(args.rounds):
                chosen = random.sample(agents, args.per_round)
                wanted = {}
                for agent in chosen:
                    agent.refresh_from_db()
                    state = random.choice([s for s in STATES if s != agent.state])
                    agent.set_state(state, "bench")
                    wanted[agent.pk] = (state, agent.state_changed_at)
                rows_changed()
                changes += len(wanted)
                page.wait_for_function(
                    "w => Object.entries(w).every(([id, s]) => "
                    "(document.getElementById('agent-' + id) || {dataset: {}}).dataset.state === s)",
                    arg={str(pk): state for pk, (state, _) in wanted.items()}, timeout=30_000)
                shown = time.time()
                delays += [(shown - at.timestamp()) * 1000 for _, at in wanted.values()]
            after = metrics(cdp)
            nodes = page.evaluate("document.getElementsByTagName('*').length")
            browser.close()
        per = {key: (after[key] - before[key]) * 1000 / changes
               for key in ("ScriptDuration", "RecalcStyleDuration", "LayoutDuration", "TaskDuration")}
        delays.sort()
        print(f"agents: {Agent.objects.count()} in {args.teams} teams; page: {nodes} elements")
        print(f"first load, link to the last card drawn: {load_ms:.0f} ms")
        print(f"state row to card ({changes} changes, {args.per_round} at a time): "
              f"p50 {statistics.median(delays):.0f} ms, p95 {delays[int(0.95 * (len(delays) - 1))]:.0f} ms, "
              f"max {delays[-1]:.0f} ms (an upper bound: it includes this script's polling)")
        print(f"browser time per change: script {per['ScriptDuration']:.2f} ms, style {per['RecalcStyleDuration']:.2f} ms, "
              f"layout {per['LayoutDuration']:.2f} ms, all tasks {per['TaskDuration']:.2f} ms")
        print(f"card requests: {len(requests)} for {changes} changes")
    finally:
        service.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
