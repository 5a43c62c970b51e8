"""How soon the host's watcher turns what N agents' screens show into state rows, and what it costs.

Run: .venv/bin/python bench/watcher.py [--agents 200] [--per-session 10] [--sample 50] [--rounds 4]
                                       [--spacing 0.02] [--window 10] [--database sqlite|postgres]
                                       [--concurrency N]

Starts the real service (`bin/run` through bench/service.py: web, worker, watcher and beat as
separate processes) in a private place: a temporary data directory, a private tmux server, a
free port, and the embedded SQLite or, with `--database postgres`, a fresh PostgreSQL database
on 127.0.0.1:5432 (user postgres, trust auth; created with psql, dropped at the end). It spawns N shell agents through the REST API
(`bash --norc --noprofile`, as tests/orchestrator-test.toml has it) in sessions of
--per-session; each shell's PROMPT_COMMAND appends `<pane> $EPOCHREALTIME` to a file, which is
when bash drew its prompt. Then it measures, and prints beside the targets:

1. State change on screen to state row (AgentEvent.created_at), for --rounds rounds of --sample
   agents started --spacing seconds apart (0.02: 50 changes a second). working: from the return
   of the tmux command that typed `sleep 1.5` and pressed Enter; idle: from bash drawing its
   prompt after the sleep.
2. A message sent (POST /messages/send) 1 s into its agent's `sleep 3`, typed once the agent is
   idle: from the idle row's created_at, and from the prompt, to Message.typed_at; and the idle
   row to Message.claimed_at (a worker took the job) and claimed_at to typed_at.
3. CPU (% of one core, from /proc/<pid>/task/*/schedstat) of the watcher process over --window
   seconds with every agent idle, and with every pane printing (`while :; do echo $RANDOM;
   read -rt 0.1; done`: `read -t` rather than `sleep 0.1`, so 10 forks per pane a second do not
   swamp the machine); the watcher's control-mode clients, the tmux server and the worker
   (with its pool) in the same windows, for reference.
4. The reconciling sweep (monitoring.services.host_sweep, in this process, with the service
   stopped and every agent idle and quiet: median of 10) against `tmux list-panes -a` on the
   same server (median of 20), and the ratio; measured right after part 5, in the state the
   service swept there, and again after the printing window (the service is started again
   for it), once every shell's last message has output after it to keep as its reply.
5. The sweep time the running service reports at /metrics (tmux_orc_sweep_duration_seconds,
   each host's last sweep), read every second over several of beat's sweeps with idle agents.

Nothing but the service's own processes runs a sweep (beat, every 5 s). It asserts nothing.
At the end, also on Ctrl-C, it stops the service, kills its tmux server (only that one) and
waits for the panes' programs to go, drops the database it made, and removes the directory.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.service import Http, Service, ServiceError, children_of, descendants, wait_until  # noqa: E402

COMMAND_SECONDS = 1.5  # the command of part 1
QUEUED_COMMAND_SECONDS = 3.0  # the command a message waits behind in part 2
QUEUED_AFTER = 1.0  # seconds into that command the message is sent
PRINTING = "while :; do echo $RANDOM; read -rt 0.1; done"
ROWS_TIMEOUT = 20.0  # seconds a round waits for its rows
QUIET = 8.0  # seconds without output before a sweep has nothing to capture (interval + 1.5, whole seconds)
SWEEP_REPEAT, LIST_REPEAT = 10, 20
POSTGRES = "postgres://postgres@127.0.0.1:5432"
SWEEP_METRIC = re.compile(r'^tmux_orc_sweep_duration_seconds\{host="([^"]*)"\} (\S+)$', re.MULTILINE)
TARGETS = {"row_p50": 0.3, "row_p99": 1.0, "typed_p50": 0.3, "cpu_idle": 2.0, "cpu_printing": 25.0, "ratio": 5.0}


def log(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {text}", flush=True)


# -- numbers ----------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest rank: the smallest value with at least `fraction` of them at or below it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))] if ordered else None


def spread(values: list[float]) -> str:
    if not values:
        return "no samples"
    ms = lambda v: f"{v * 1000:6.0f} ms"  # noqa: E731
    return f"p50 {ms(percentile(values, 0.5))}  p99 {ms(percentile(values, 0.99))}  max {ms(max(values))}" \
           f"  (n={len(values)})"


def verdict(value: float | None, target: float, unit: str = "") -> str:
    if value is None:
        return "not measured"
    if value <= target:
        return "met"
    return f"MISSED by {value / target:.1f}x" + (f" (+{(value - target) * 1000:.0f} ms)" if unit == "s" else "")


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of `pid`, in seconds, to the nanosecond (0 once it is gone)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    except FileNotFoundError:
        pass
    return total / 1e9


def cpu_window(groups: dict[str, list[int]], seconds: float) -> dict[str, float]:
    """% of one core each group of processes used over the next `seconds`."""
    before, start = {name: sum(map(cpu_seconds, pids)) for name, pids in groups.items()}, time.monotonic()
    time.sleep(seconds)  # the measuring window itself
    elapsed = time.monotonic() - start
    # A process that ended in the window takes its time with it: never below 0.
    return {name: max(0.0, 100 * (sum(map(cpu_seconds, pids)) - before[name]) / elapsed)
            for name, pids in groups.items()}


def dt(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, timezone.utc)


# -- the private database and service ------------------------------------------------------------
def psql(sql: str) -> None:
    subprocess.run(["psql", f"{POSTGRES}/postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql],
                   check=True, capture_output=True, text=True, timeout=60)


def bench_config(workdir: Path, prompts: Path) -> Path:
    """The test config's shell, with a PROMPT_COMMAND that says when each prompt is drawn."""
    record = f'echo "$TMUX_PANE $EPOCHREALTIME" >>{prompts}'
    path = workdir / "bench.toml"
    path.write_text(f'[agents.profiles.shell]\ncommand = "bash --norc --noprofile"\n'
                    f'env = {{ PROMPT_COMMAND = {json.dumps(record)} }}\n')
    return path


def django_setup(service: Service, database_url: str) -> None:
    """This process on the service's own settings: its database, data directory and tmux server."""
    for name in [n for n in os.environ if n.startswith("TMUX_ORC_")] + ["DATABASE_URL", "REDIS_URL", "TMUX"]:
        os.environ.pop(name, None)
    os.environ.update(DJANGO_SETTINGS_MODULE="orchestrator.settings", TMUX_ORC_DATA_DIR=str(service.data_dir),
                      TMUX_TMPDIR=str(service.tmux_dir), TMUX_ORC_TMUX_SOCKET=service.socket_name,
                      TMUX_ORC_CONFIG=service.env["TMUX_ORC_CONFIG"])
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()


class Agents:
    """The spawned agents: target, row id and pane, read back from the database."""

    def __init__(self, targets: list[str]):
        from agents.models import Agent

        rows = Agent.objects.exclude(state="stopped").values_list("session_name", "name", "pk", "tmux_pane_id")
        by_target = {f"{s}:{n}": (pk, pane) for s, n, pk, pane in rows}
        self.targets = targets
        self.pk = {t: by_target[t][0] for t in targets}
        self.pane = {t: by_target[t][1] for t in targets}


def spawn_agents(http: Http, service: Service, count: int, per_session: int) -> list[str]:
    """`count` shell agents through the API, idle with their briefing delivered."""
    from agents.models import Agent, Message

    project = service.workdir / "project"
    project.mkdir(exist_ok=True)
    targets = [f"w{i // per_session:02d}:a{i:03d}" for i in range(count)]

    def spawn(target: str) -> None:
        session, name = target.split(":")
        payload = {"session_name": session, "name": name, "agent_type": "developer", "project_path": str(project),
                   "profile": "shell", "briefing_message": "# watcher bench"}
        deadline = time.monotonic() + 180
        while (status := http.call("POST", "/agents/spawn", payload)[0]) == 429 and time.monotonic() < deadline:
            time.sleep(0.3)  # pacing: the host takes a few spawns at a time
        if status not in (201, 202):
            raise ServiceError(f"spawn of {target}: {status}\n{service.recent_output()}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(spawn, targets))
    ready = lambda: (Agent.objects.filter(state="idle").count() == count  # noqa: E731
                     and Message.objects.filter(status="delivered").count() == count)
    wait_until(ready, 300, f"{count} idle shell agents with their briefing delivered", interval=0.5,
               describe=lambda: f"states {list(Agent.objects.values_list('state', flat=True))[:20]}\n"
                                f"{service.recent_output()}")
    return targets


# -- what the screens and rows say ----------------------------------------------------------------
def prompts_drawn(path: Path) -> dict[str, list[float]]:
    """Pane id: the times bash drew its prompt, in order."""
    times: dict[str, list[float]] = defaultdict(list)
    for line in path.read_text().splitlines() if path.exists() else []:
        pane, _, stamp = line.partition(" ")
        try:
            times[pane].append(float(stamp))
        except ValueError:
            continue
    return times


def first_after(stamps: list[float], after: float) -> float | None:
    return next((s for s in stamps if s > after), None)


def events_since(agent_ids: list[int], since: float) -> dict[int, list[tuple[str, float, str]]]:
    """Agent id: its state rows since `since` as (to_state, created_at, signal), in order."""
    from agents.models import AgentEvent

    found: dict[int, list[tuple[str, float, str]]] = defaultdict(list)
    rows = AgentEvent.objects.filter(agent_id__in=agent_ids, created_at__gte=dt(since)).order_by("created_at", "id")
    for agent_id, state, created, signal_ in rows.values_list("agent_id", "to_state", "created_at", "signal"):
        found[agent_id].append((state, created.timestamp(), signal_))
    return found


def first_event(events: list[tuple[str, float, str]], state: str, after: float,
                signal_: str | None = None) -> float | None:
    return next((at for s, at, sig in events if s == state and at >= after and signal_ in (None, sig)), None)


def went_and_back(events: list[tuple[str, float, str]], since: float) -> bool:
    went = first_event(events, "working", since)
    return went is not None and first_event(events, "idle", went) is not None


def all_went_and_back(agent_ids: list[int], since: float) -> bool:
    events = events_since(agent_ids, since)
    return all(went_and_back(events[agent_id], since) for agent_id in agent_ids)


def start_command(gateway, pane: str, command: str) -> float:
    """Type `command` and press Enter in one tmux invocation; the time it returned."""
    gateway.run([["send-keys", "-t", pane, "-l", command], ["send-keys", "-t", pane, "Enter"]])
    return time.time()


def wait_all_idle(agents: Agents, timeout: float = 60) -> None:
    from agents.models import Agent, Message

    def idle() -> bool:
        return (Agent.objects.filter(pk__in=agents.pk.values(), state="idle").count() == len(agents.targets)
                and not Message.objects.filter(status__in=["queued", "delivering"]).exists())

    wait_until(idle, timeout, "every agent idle, no message waiting", interval=0.25)


# -- 1. state rows ----------------------------------------------------------------------------------
def state_rows(gateway, agents: Agents, prompts: Path, sample: int, rounds: int, spacing: float) -> dict:
    working, idle, unseen = [], [], 0
    for number in range(rounds):
        chosen = random.sample(agents.targets, min(sample, len(agents.targets)))
        since = time.time()
        sent = {}
        for target in chosen:
            sent[target] = start_command(gateway, agents.pane[target], f"sleep {COMMAND_SECONDS}")
            time.sleep(spacing)  # pacing: the sample starts spread out, not in one instant
        ids = [agents.pk[t] for t in chosen]
        try:
            wait_until(lambda: all_went_and_back(ids, since), COMMAND_SECONDS + ROWS_TIMEOUT,
                       "working and idle rows", interval=0.25)
        except ServiceError:
            pass  # the figures count the commands without both rows
        events, drawn = events_since(ids, since), prompts_drawn(prompts)
        for target in chosen:
            rows = events[agents.pk[target]]
            went, prompt = first_event(rows, "working", since), first_after(drawn[agents.pane[target]], sent[target])
            back = first_event(rows, "idle", went) if went else None
            if went is None or back is None or prompt is None:
                unseen += 1
                continue
            working.append(went - sent[target])
            idle.append(back - prompt)
        wait_all_idle(agents)
        log(f"part 1, round {number + 1}/{rounds}: {len(chosen)} agents ran `sleep {COMMAND_SECONDS}`")
    return {"working": working, "idle": idle, "unseen": unseen}


# -- 2. queued messages -----------------------------------------------------------------------------
def queued_messages(gateway, http: Http, agents: Agents, prompts: Path, sample: int, rounds: int,
                    spacing: float) -> dict:
    from agents.models import Message

    figures = {"after_row": [], "after_prompt": [], "waited": [], "typing": [], "held": [], "late": 0, "unseen": 0}
    for number in range(rounds):
        chosen = random.sample(agents.targets, min(sample, len(agents.targets)))
        busy, ids = queue_behind_commands(gateway, http, agents, chosen, spacing, number)
        typed = lambda: Message.objects.filter(pk__in=ids.values(), typed_at__isnull=False).count() == len(ids)  # noqa: E731
        try:
            wait_until(typed, QUEUED_COMMAND_SECONDS + ROWS_TIMEOUT, "the queued messages to be typed", interval=0.25)
        except ServiceError:
            pass  # the figures count what was not typed
        tally_queued(figures, agents, prompts, busy, ids)
        figures["unseen"] += len(chosen) - len(ids)
        wait_all_idle(agents)
        log(f"part 2, round {number + 1}/{rounds}: {len(ids)} messages queued behind `sleep {QUEUED_COMMAND_SECONDS:g}`")
    return figures


def queue_behind_commands(gateway, http: Http, agents: Agents, chosen: list[str], spacing: float,
                          number: int) -> tuple[dict[str, float], dict[str, int]]:
    """Start `sleep 3` in each chosen pane, `spacing` apart, and send each a message QUEUED_AFTER s
    after its command started. Returns when each command started, and the message ids."""
    busy: dict[str, float] = {}

    def send(target: str) -> tuple[int | None, dict]:
        time.sleep(max(0.0, busy[target] + QUEUED_AFTER - time.time()))  # pacing: while the command runs
        return http.call("POST", "/messages/send", {"target": target, "message": f": queued-{number}-{target}"})

    with ThreadPoolExecutor(max_workers=16) as pool:
        sends = {}
        for target in chosen:
            busy[target] = start_command(gateway, agents.pane[target], f"sleep {QUEUED_COMMAND_SECONDS:g}")
            sends[target] = pool.submit(send, target)
            time.sleep(spacing)  # pacing, as in part 1
        answers = {target: future.result() for target, future in sends.items()}
    return busy, {t: body["data"]["id"] for t, (status, body) in answers.items() if status == 201}


def tally_queued(figures: dict, agents: Agents, prompts: Path, busy: dict[str, float], ids: dict[str, int]) -> None:
    from agents.models import Message

    rows = {m.pk: m for m in Message.objects.filter(pk__in=ids.values())}
    events = events_since([agents.pk[t] for t in busy], min(busy.values()))
    drawn = prompts_drawn(prompts)
    for target, message_id in ids.items():
        message = rows[message_id]
        prompt = first_after(drawn[agents.pane[target]], busy[target])
        idle = first_event(events[agents.pk[target]], "idle", busy[target], "screen")
        if message.typed_at is None or prompt is None or idle is None:
            figures["unseen"] += 1
        elif message.created_at.timestamp() >= prompt:
            figures["late"] += 1  # sent after the command had ended: not a queued message
        else:
            typed, claimed = message.typed_at.timestamp(), message.claimed_at.timestamp()
            figures["after_row"].append(typed - idle)
            figures["after_prompt"].append(typed - prompt)
            figures["waited"].append(claimed - idle)
            figures["typing"].append(typed - claimed)
            if message.delivered_at is not None:
                figures["held"].append(message.delivered_at.timestamp() - claimed)


# -- 3 and 5. CPU, and the sweep the service reports -----------------------------------------------
def processes(service: Service, gateway) -> dict[str, list[int]]:
    roles = {role: pid for pid, role in service.children().items()}
    watcher, worker = roles.get("watcher"), roles.get("worker")
    server = int(gateway.run([["display-message", "-p", "#{pid}"]])[0])
    return {"watcher": [watcher] if watcher else [], "its control clients": children_of(watcher) if watcher else [],
            "tmux server": [server], "worker (with its pool)": [worker, *descendants(worker)] if worker else []}


def unanswered() -> int:
    """Agents whose delivered messages of the last hour include one with no reply recorded: the
    sweep and the watcher's looks at idle agents read their history again each time."""
    from datetime import timedelta

    from django.utils import timezone

    from agents.models import Message

    recent = timezone.now() - timedelta(hours=1)
    return Message.objects.filter(status="delivered", replied_at=None, delivered_at__gte=recent) \
        .values("agent_id").distinct().count()


def wait_quiet(gateway, seconds: float) -> None:
    """Until no pane has printed for `seconds` (tmux keeps activity in whole seconds)."""
    wait_until(lambda: time.time() - max(p.activity for p in gateway.list_panes()) >= seconds + 1, 120,
               f"{seconds:.0f} s without output", interval=0.5)


def metrics_sweeps(service: Service, seconds: float) -> list[float]:
    """The last sweep's duration as /metrics says it, read every second for `seconds`: each new value."""
    values, last = [], None
    request = urllib.request.Request(f"{service.base_url}/metrics", headers={"Authorization": f"Bearer {service.token}"})
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with urllib.request.urlopen(request, timeout=30) as response:
            found = SWEEP_METRIC.findall(response.read().decode())
        if found and found[0][1] != last:
            last = found[0][1]
            values.append(float(last))
        time.sleep(1.0)  # pacing of the scrapes
    return values


def printing_window(gateway, agents: Agents, groups: dict[str, list[int]], window: float) -> dict[str, float]:
    for target in agents.targets:
        start_command(gateway, agents.pane[target], PRINTING)
    time.sleep(2.0)  # warm-up: the watcher sees every pane start
    cpu = cpu_window(groups, window)
    for target in agents.targets:
        gateway.send_keys(agents.pane[target], "C-c")
    wait_all_idle(agents)
    return cpu


# -- 4. the sweep in this process -------------------------------------------------------------------
def timed_ms(action, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


def sweep_figures(service: Service, gateway) -> dict[str, float]:
    from django.conf import settings

    from agents.gateway import PANE_FORMAT
    from monitoring.services import host_sweep

    host = settings.TMUX_ORC.agent_host
    socket_path = str(service.tmux_dir / f"tmux-{os.getuid()}" / service.socket_name)
    host_sweep(host=host)  # warm-up: connections, imports
    sweep = timed_ms(lambda: host_sweep(host=host), SWEEP_REPEAT)
    raw = timed_ms(lambda: subprocess.run(["tmux", "-S", socket_path, "list-panes", "-a", "-F", PANE_FORMAT],
                                          capture_output=True, check=True), LIST_REPEAT)
    via_gateway = timed_ms(gateway.list_panes, LIST_REPEAT)
    return {"sweep": statistics.median(sweep), "tmux": statistics.median(raw), "gateway": statistics.median(via_gateway)}


# -- the run ----------------------------------------------------------------------------------------
def measure(service: Service, args, prompts: Path) -> dict:
    from agents.gateway import Gateway

    http = Http(service.base_url, service.token)
    gateway = Gateway(socket_path=str(service.tmux_dir / f"tmux-{os.getuid()}" / service.socket_name))
    started = time.monotonic()
    agents = Agents(spawn_agents(http, service, args.agents, args.per_session))
    figures = {"spawn_s": time.monotonic() - started, "sessions": len({t.split(":")[0] for t in agents.targets})}
    log(f"{args.agents} shell agents idle in {figures['sessions']} sessions ({figures['spawn_s']:.0f} s)")
    wait_quiet(gateway, 2.0)
    figures["rows"] = state_rows(gateway, agents, prompts, args.sample, args.rounds, args.spacing)
    output_from = len(service.lines)
    figures["queued"] = queued_messages(gateway, http, agents, prompts, args.sample, args.rounds, args.spacing)
    figures["queued"]["jobs"] = sum("agents.deliver_messages[" in line and "received" in line
                                    for line in service.lines[output_from:])
    wait_quiet(gateway, QUIET)
    figures["cpu_idle"] = cpu_window(processes(service, gateway), args.window)
    log(f"part 3: idle window done; reading /metrics over {args.metrics_seconds:.0f} s")
    figures["metrics"], figures["unanswered_metrics"] = metrics_sweeps(service, args.metrics_seconds), unanswered()
    log("part 5 done; stopping the service for part 4")
    service.stop()
    figures["sweep"], figures["unanswered_sweep"] = sweep_figures(service, gateway), unanswered()
    log("part 4 done; starting the service again for the printing window")
    service.start()
    wait_until(lambda: "watcher" in service.children().values(), 60, "the watcher")
    wait_all_idle(agents)
    figures["cpu_printing"] = printing_window(gateway, agents, processes(service, gateway), args.window)
    log("part 3: printing window done; stopping the service for the sweep once replies are recorded")
    service.stop()
    wait_quiet(gateway, QUIET)
    figures["sweep_answered"], figures["unanswered_answered"] = sweep_figures(service, gateway), unanswered()
    figures["problems"] = http.server_errors + http.connection_errors
    return figures


def report(figures: dict, args) -> None:
    print()
    print(f"bench/watcher.py: {args.agents} shell agents, {figures['sessions']} sessions, database {args.database}, "
          f"{os.cpu_count()} CPUs, real service (bin/run)")
    print(f"   parts 1-2: {args.rounds} rounds of {args.sample} agents started {args.spacing * 1000:g} ms apart")
    report_latencies(figures["rows"], figures["queued"])
    report_cpu(figures["cpu_idle"], figures["cpu_printing"], args.window)
    report_sweeps(figures)
    if figures["problems"]:
        print(f"   requests that failed: {figures['problems'][:5]}")


def report_latencies(rows: dict, queued: dict) -> None:
    both = rows["working"] + rows["idle"]
    print("1. state change on screen -> AgentEvent row (created_at)")
    print(f"   working (from Enter sent):         {spread(rows['working'])}")
    print(f"   idle (from the prompt drawn):      {spread(rows['idle'])}")
    print(f"   both:                              {spread(both)};  {rows['unseen']} commands without both rows")
    print(f"   target p50 <= 300 ms: {verdict(percentile(both, 0.5), TARGETS['row_p50'], 's')};  "
          f"p99 <= 1 s: {verdict(percentile(both, 0.99), TARGETS['row_p99'], 's')}")
    print("2. queued message typed after idle (Message.typed_at)")
    print(f"   from the idle row:                 {spread(queued['after_row'])}")
    print(f"   from the prompt drawn:             {spread(queued['after_prompt'])}")
    print(f"   of which idle row -> claimed_at:   {spread(queued['waited'])}")
    print(f"   and claimed_at -> typed_at:        {spread(queued['typing'])}")
    print(f"   claimed_at -> delivered_at:        {spread(queued['held'])}  (a delivery holds a worker process)")
    print(f"   {queued['jobs']} delivery jobs received by the worker for {len(queued['after_row'])} messages; "
          f"{queued['unseen']} not typed in time, {queued['late']} sent after the command ended (left out)")
    print(f"   target p50 <= 300 ms from the idle row: "
          f"{verdict(percentile(queued['after_row'], 0.5), TARGETS['typed_p50'], 's')};  from the prompt: "
          f"{verdict(percentile(queued['after_prompt'], 0.5), TARGETS['typed_p50'], 's')}")


def report_cpu(idle: dict, printing: dict, window: float) -> None:
    print(f"3. CPU, % of one core, over {window:g} s          {'idle':>8} {'printing':>9}")
    for name in idle:
        print(f"   {name:<38} {idle[name]:7.1f}% {printing[name]:8.1f}%")
    print(f"   target watcher <= 2% idle: {verdict(idle['watcher'], TARGETS['cpu_idle'])};  "
          f"<= 25% printing: {verdict(printing['watcher'], TARGETS['cpu_printing'])}")


def report_sweeps(figures: dict) -> None:
    sweep, answered = figures["sweep"], figures["sweep_answered"]
    ratio = sweep["sweep"] / sweep["tmux"]
    print("4. reconciling sweep, idle quiet agents, in this process (service stopped)")
    print(f"   host_sweep, median of {SWEEP_REPEAT}:           {sweep['sweep']:7.1f} ms   "
          f"({figures['unanswered_sweep']} agents whose last delivered message has no reply recorded)")
    print(f"   tmux list-panes -a, median of {LIST_REPEAT}:   {sweep['tmux']:7.1f} ms   "
          f"(Gateway.list_panes: {sweep['gateway']:.1f} ms)")
    print(f"   ratio: {ratio:.1f}x   target <= 5x: {verdict(ratio, TARGETS['ratio'])}")
    print(f"   again after the printing window:    host_sweep {answered['sweep']:.1f} ms, list-panes "
          f"{answered['tmux']:.1f} ms, ratio {answered['sweep'] / answered['tmux']:.1f}x "
          f"({figures['unanswered_answered']} agents without a recorded reply)")
    metrics = [v * 1000 for v in figures["metrics"]]
    print("5. tmux_orc_sweep_duration_seconds at /metrics (a gauge: each host's last sweep; no histogram)")
    if not metrics:
        print("   no sweep seen at /metrics")
        return
    median = statistics.median(metrics)
    print(f"   {len(metrics)} sweeps: median {median:.1f} ms, min {min(metrics):.1f}, max {max(metrics):.1f} "
          f"({figures['unanswered_metrics']} agents without a recorded reply)")
    print(f"   ratio to list-panes (part 4): {median / sweep['tmux']:.1f}x   target <= 5x: "
          f"{verdict(median / sweep['tmux'], TARGETS['ratio'])}")


def teardown(service: Service | None, database: str, workdir: Path) -> None:
    """Stop the service, kill its tmux server and wait for its panes' programs; drop the database."""
    if service is not None:
        pids = []
        try:
            gateway = service.gateway()
            pids = [p.pid for p in gateway.list_panes() if p.pid] + [int(gateway.run([["display", "-p", "#{pid}"]])[0])]
        except Exception:  # noqa: BLE001 - the server may never have started
            pass
        service.close()
        gone = lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids)  # noqa: E731
        try:
            wait_until(gone, 15, "the tmux server and its panes to go", interval=0.1)
        except ServiceError:
            for pid in [pid for pid in pids if Path(f"/proc/{pid}").exists()]:
                os.kill(pid, signal.SIGKILL)
    if database:
        try:
            from django.db import connections

            for connection in connections.all():
                getattr(connection, "close_pool", connection.close)()
        except Exception:  # noqa: BLE001 - Django may not have been set up
            pass
        psql(f"drop database if exists {database} with (force)")
    shutil.rmtree(workdir, ignore_errors=True)


def interrupted(signum, frame):
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--per-session", type=int, default=10, help="agents per tmux session")
    parser.add_argument("--sample", type=int, default=50, help="agents per round in parts 1 and 2")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--spacing", type=float, default=0.02, help="seconds between sampled agents' starts")
    parser.add_argument("--concurrency", type=int, help="the worker's processes (default: the service's own)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of each CPU window")
    parser.add_argument("--metrics-seconds", type=float, default=30.0, help="seconds /metrics is read in part 5")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite",
                        help=f"postgres: a fresh database on {POSTGRES} (trust auth), dropped at the end")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, interrupted)
    workdir = Path(tempfile.mkdtemp(prefix="tmux-orc-watcher-"))
    service, database, database_url = None, "", ""
    try:
        if args.database == "postgres":
            database = f"bench_watcher_{secrets.token_hex(4)}"
            psql(f"create database {database}")
            database_url = f"{POSTGRES}/{database}"
        prompts = workdir / "prompts.log"
        env = {"TMUX_ORC_WORKER_CONCURRENCY": str(args.concurrency)} if args.concurrency else {}
        service = Service(workdir, env={**env, "DATABASE_URL": database_url} if database_url else env)
        service.env["TMUX_ORC_CONFIG"] = str(bench_config(workdir, prompts))
        service.start()
        log(f"service started on {service.base_url} (tmux -L {service.socket_name}, database {args.database})")
        django_setup(service, database_url)
        report(measure(service, args, prompts), args)
    except ServiceError as error:
        print(f"bench/watcher.py: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted: cleaning up", file=sys.stderr)
    finally:
        teardown(service, database, workdir)


if __name__ == "__main__":
    main()
