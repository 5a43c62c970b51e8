"""What the dashboard shows: the agents as cards, grouped by team (or session), the most
urgent first. Reads only; what the pages do goes through the declared operations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db import models
from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from agents.hosts import live_hosts
from agents.models import LIVE_STATES, Agent, AgentEvent, AgentState
from agents.selectors import crashed_lately, health_of
from tasks.models import Task, TaskStatus

# Most urgent first: what rolls up to a team's header and sorts a team to the top.
URGENCY = [AgentState.WAITING_APPROVAL, AgentState.FAILED, AgentState.CRASHED, AgentState.STUCK,
           AgentState.STARTING, AgentState.WORKING, AgentState.IDLE, AgentState.STOPPED]
NEEDS_YOU = {AgentState.WAITING_APPROVAL, AgentState.FAILED, AgentState.CRASHED, AgentState.STUCK}
# The word a person reads for each state (never the colour alone).
STATE_WORDS = {AgentState.WAITING_APPROVAL: "waiting for approval", AgentState.FAILED: "failed",
               AgentState.CRASHED: "crashed", AgentState.STUCK: "stuck", AgentState.STARTING: "starting",
               AgentState.WORKING: "working", AgentState.IDLE: "idle", AgentState.STOPPED: "stopped"}
CURRENT_TASK = [TaskStatus.IN_PROGRESS, TaskStatus.REVIEW, TaskStatus.BLOCKED, TaskStatus.ASSIGNED]
STRIP_SPAN = timedelta(hours=1)  # how far back an agent's strip of states goes


def urgency(state: str) -> int:
    return URGENCY.index(state) if state in URGENCY else len(URGENCY)


@dataclass
class Segment:
    """A stretch of one state on an agent's strip: where it starts and how wide it is, in
    percent of the span."""

    state: str
    x: float
    width: float


@dataclass
class Card:
    agent: Agent
    health: int
    task: Task | None
    strip: list[Segment] = field(default_factory=list)
    host_down: bool = False  # its host's worker is not alive: the state shown is the last one seen

    @property
    def strip_words(self) -> str:
        """The strip in words: minutes in each state over the span, the longest first."""
        minutes: dict[str, float] = {}
        for segment in self.strip:
            minutes[segment.state] = minutes.get(segment.state, 0) + segment.width * STRIP_SPAN.total_seconds() / 6000
        parts = [f"{STATE_WORDS.get(state, state)} {round(m)}m" for state, m in
                 sorted(minutes.items(), key=lambda item: -item[1]) if round(m)]
        return "last hour: " + (", ".join(parts) or "under a minute of history")

    @property
    def word(self) -> str:
        return STATE_WORDS.get(self.agent.state, self.agent.state)

    @property
    def needs_you(self) -> bool:
        return self.agent.state in NEEDS_YOU


@dataclass
class Group:
    """A team's agents, or the agents of a session that is no team's."""

    name: str
    is_team: bool
    cards: list[Card] = field(default_factory=list)

    @property
    def state(self) -> str:
        """The most urgent state of its agents."""
        return min((card.agent.state for card in self.cards), key=urgency, default=AgentState.IDLE)

    @property
    def word(self) -> str:
        return STATE_WORDS.get(self.state, self.state)


def cards(*, agent_ids: list[int] | None = None) -> list[Card]:
    """The live agents (or those of `agent_ids`, stopped ones too), with their health score
    and current task, in three queries whatever their number."""
    crashes = Count("events", filter=crashed_lately("events__"))
    working_on = Task.objects.filter(status__in=CURRENT_TASK).order_by("-updated_at")
    agents = (Agent.objects.select_related("team").annotate(crashes=crashes)
              .prefetch_related(Prefetch("tasks", queryset=working_on, to_attr="current_tasks")))
    agents = agents.filter(pk__in=agent_ids) if agent_ids is not None else agents.filter(state__in=LIVE_STATES)
    found, live = [], set(live_hosts())
    for agent in agents:
        health = health_of(agent.state, agent.crashes)
        tasks = sorted(agent.current_tasks, key=lambda task: CURRENT_TASK.index(task.status))
        host_down = agent.state != AgentState.STOPPED and agent.host not in live
        found.append(Card(agent, health, tasks[0] if tasks else None, host_down=host_down))
    for card, segments in zip(found, strips([card.agent for card in found]), strict=True):
        card.strip = segments
    return found


def strips(agents: list[Agent], *, now=None) -> list[list[Segment]]:
    """Each agent's states over the last STRIP_SPAN, from its changes of state (one query)."""
    now = now or timezone.now()
    start = now - STRIP_SPAN
    changes: dict[int, list[AgentEvent]] = {agent.pk: [] for agent in agents}
    events = (AgentEvent.objects.filter(agent_id__in=list(changes), created_at__gt=start)
              .exclude(from_state=models.F("to_state")).order_by("created_at", "id"))
    for event in events.only("agent_id", "from_state", "to_state", "created_at"):
        changes[event.agent_id].append(event)
    span = STRIP_SPAN.total_seconds()
    found = []
    for agent in agents:
        began = max(start, agent.created_at) if agent.created_at else start
        moments = [(began, changes[agent.pk][0].from_state if changes[agent.pk] else agent.state)]
        moments += [(event.created_at, event.to_state) for event in changes[agent.pk]]
        segments = []
        for (at, state), (until, _) in zip(moments, [*moments[1:], (now, "")], strict=True):
            x, width = (at - start).total_seconds() / span * 100, (until - at).total_seconds() / span * 100
            if width > 0:
                segments.append(Segment(state, round(x, 2), round(width, 2)))
        found.append(segments)
    return found


def groups(found: list[Card]) -> list[Group]:
    """Cards by team (or session), the most urgent group first and, within one, the most
    urgent card first."""
    by_name: dict[tuple[str, bool], Group] = {}
    for card in found:
        team = card.agent.team
        key = (team.name, True) if team else (card.agent.session_name, False)
        by_name.setdefault(key, Group(name=key[0], is_team=key[1])).cards.append(card)
    for group in by_name.values():
        group.cards.sort(key=lambda card: (urgency(card.agent.state), card.agent.name))
    return sorted(by_name.values(), key=lambda group: (urgency(group.state), group.name))


def counts(found: list[Card]) -> list[tuple[str, str, int]]:
    """(state, word, how many) for every live state, in order of urgency."""
    by_state = {state: 0 for state in URGENCY if state != AgentState.STOPPED}
    for card in found:
        if card.agent.state in by_state:
            by_state[card.agent.state] += 1
    return [(state, STATE_WORDS[state], n) for state, n in by_state.items()]


# --- what needs a person ---------------------------------------------------------------------

LOOKBACK = timedelta(hours=24)  # failed deliveries and alerts shown


def needs_you() -> dict:
    """Every agent waiting for an answer (with what its screen asks), the agents that are
    down, and the failed deliveries and alerts of the last day."""
    from agents.models import Message, MessageStatus
    from monitoring.models import Alert

    since = timezone.now() - LOOKBACK
    waiting = cards_in([AgentState.WAITING_APPROVAL])
    for card in waiting:
        card.prompt = "\n".join((card.agent.observation or {}).get("lines") or [])
    return {
        "waiting": waiting,
        "down": cards_in([AgentState.FAILED, AgentState.CRASHED, AgentState.STUCK]),
        "failed": list(Message.objects.select_related("agent")
                       .filter(status__in=[MessageStatus.FAILED, MessageStatus.EXPIRED], changed_at__gte=since)
                       .order_by("-changed_at")[:50]),
        "alerts": list(Alert.objects.select_related("agent").filter(created_at__gte=since)[:50]),
    }


def cards_in(states: list[str]) -> list[Card]:
    ids = list(Agent.objects.filter(state__in=states).values_list("pk", flat=True))
    return sorted(cards(agent_ids=ids), key=lambda card: (urgency(card.agent.state), card.agent.target))


# --- tasks -------------------------------------------------------------------------------------

BOARD_COLUMNS = [TaskStatus.PENDING, TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS, TaskStatus.REVIEW,
                 TaskStatus.BLOCKED, TaskStatus.DONE, TaskStatus.CANCELLED]
PER_COLUMN = 50  # the newest tasks a column shows


@dataclass
class Column:
    status: str
    label: str
    tasks: list[Task]
    total: int


def task_board() -> list[Column]:
    """The tasks by status, highest priority first, each with the moves it allows."""
    from tasks.models import TRANSITIONS, TaskPriority

    rank = {priority: i for i, priority in enumerate(reversed(TaskPriority.values))}
    columns = []
    for status in BOARD_COLUMNS:
        rows = Task.objects.filter(status=status).select_related("assigned_to").order_by("-updated_at")
        shown = sorted(rows[:PER_COLUMN], key=lambda task: rank.get(task.priority, 99))
        for task in shown:
            task.moves = sorted(TRANSITIONS[TaskStatus(task.status)], key=BOARD_COLUMNS.index)
            results = task.check_results or []
            task.checks_passed = sum(1 for result in results if isinstance(result, dict) and result.get("passed"))
            task.checks_run = len(results)
        columns.append(Column(status, TaskStatus(status).label, shown, rows.count()))
    return columns


# --- the service itself --------------------------------------------------------------------

LATENCY_BUCKETS = [(0.5, "≤0.5 s"), (1, "≤1 s"), (2, "≤2 s"), (5, "≤5 s"), (10, "≤10 s"), (30, "≤30 s"),
                   (60, "≤1 min"), (300, "≤5 min"), (float("inf"), ">5 min")]


@dataclass
class Bar:
    """One bar of a chart drawn in a box 10 wide a bar and 40 high."""

    label: str
    count: int
    index: int
    tallest: int

    @property
    def x(self) -> int:
        return self.index * 10 + 1

    @property
    def height(self) -> float:
        return round(38 * self.count / (self.tallest or 1), 2)

    @property
    def y(self) -> float:
        return round(40 - self.height, 2)


@dataclass
class Spark:
    """A line of recent figures, drawn in a 100×30 box, newest on the right."""

    values: list[float]

    @property
    def points(self) -> str:
        top = max(self.values, default=0) or 1
        step = 100 / max(1, len(self.values) - 1)
        return " ".join(f"{i * step:.1f},{30 - 28 * v / top:.1f}" for i, v in enumerate(self.values))

    @property
    def last(self) -> float | None:
        return self.values[-1] if self.values else None

    @property
    def top(self) -> float | None:
        return max(self.values) if self.values else None


def _figures(details: dict, key: str) -> list[float]:
    values = details.get(key)
    return [float(v) for v in values if isinstance(v, (int, float))] if isinstance(values, list) else []


def system() -> dict:
    """Delivery latency over the last day as bars, and each host's recent sweep times and
    watcher CPU as lines."""
    from monitoring.models import Heartbeat
    from monitoring.selectors import delivery_latencies

    latencies = delivery_latencies()
    counts = [0] * len(LATENCY_BUCKETS)
    for seconds in latencies:
        counts[next(i for i, (bound, _) in enumerate(LATENCY_BUCKETS) if seconds <= bound)] += 1
    bars = [Bar(label, n, i, max(counts)) for i, ((_, label), n) in enumerate(zip(LATENCY_BUCKETS, counts, strict=True))]
    ordered = sorted(latencies)
    hosts: dict[str, dict] = {}
    for beat in Heartbeat.objects.filter(Q(name__startswith="worker:") | Q(name__startswith="watcher:")):
        kind, _, host = beat.name.partition(":")
        entry = hosts.setdefault(host, {"host": host})
        if kind == "worker":
            entry["sweep"], entry["sweep_seen"] = Spark(_figures(beat.details, "recent_sweep_ms")), beat.seen_at
        else:
            entry["watcher"], entry["watcher_seen"] = Spark(_figures(beat.details, "recent_cpu_percent")), beat.seen_at
    return {
        "bars": bars, "delivered": len(latencies),
        "p50": ordered[len(ordered) // 2] if ordered else None,
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else None,
        "hosts": sorted(hosts.values(), key=lambda entry: entry["host"]),
    }
