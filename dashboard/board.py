"""What the dashboard shows: the agents as cards, grouped by team (or session), the most
urgent first. Reads only; what the pages do goes through the declared operations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from agents.models import LIVE_STATES, Agent, AgentState
from agents.selectors import CRASH_PENALTY, HEALTH_BY_STATE
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


def urgency(state: str) -> int:
    return URGENCY.index(state) if state in URGENCY else len(URGENCY)


@dataclass
class Card:
    agent: Agent
    health: int
    task: Task | None

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
    crashes = Count("events", filter=Q(events__to_state=AgentState.CRASHED,
                                       events__created_at__gte=timezone.now() - timedelta(hours=24)))
    working_on = Task.objects.filter(status__in=CURRENT_TASK).order_by("-updated_at")
    agents = (Agent.objects.select_related("team").annotate(crashes=crashes)
              .prefetch_related(Prefetch("tasks", queryset=working_on, to_attr="current_tasks")))
    agents = agents.filter(pk__in=agent_ids) if agent_ids is not None else agents.filter(state__in=LIVE_STATES)
    found = []
    for agent in agents:
        health = max(0, HEALTH_BY_STATE.get(agent.state, 0) - CRASH_PENALTY * agent.crashes)
        tasks = sorted(agent.current_tasks, key=lambda task: CURRENT_TASK.index(task.status))
        found.append(Card(agent, health, tasks[0] if tasks else None))
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
