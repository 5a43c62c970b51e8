"""The health sweep: what tmux says about each agent, written back to its row."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from agents.gateway import Gateway, PaneInfo, TmuxError, local_gateway
from agents.hooks import HOOK_TRUSTED_FOR
from agents.hosts import host_seen
from agents.models import LIVE_STATES, Agent, AgentEvent, AgentState, Message, MessageStatus, Signal, agents_set_states
from agents.profiles import all_profiles, versions_check
from agents.screens import reply_after
from agents.selectors import hosts_with_live_agents
from agents.enqueue import enqueue_delivery
from agents.services import operations_resume
from monitoring.alerts import alert_raise
from monitoring.models import AlertKind, Heartbeat, PaneScreen
from monitoring.looks import LOOK_FIELDS, activity_time, crash_reason, crashed, seen
from monitoring.recovery import recover_crashed
from orchestrator.changes import rows_changed

log = logging.getLogger(__name__)

SWEPT_STATES = [state for state in LIVE_STATES if state != AgentState.FAILED]
# The watcher leaves crashed agents to the sweep, which restarts them.
WATCHED_STATES = [state for state in SWEPT_STATES if state != AgentState.CRASHED]


def host_sweep(*, host: str, gateway: Gateway | None = None) -> int:
    """Look at every live agent of `host` in two tmux round trips; return how many changed.
    Crashed agents are then restarted, as far as recovery allows. The watcher sees changes
    as they happen; the sweep is the reconciler that catches what no output announced (a
    silent crash, a missed event, drift)."""
    started = time.monotonic()
    agents = list(Agent.objects.filter(host=host, state__in=SWEPT_STATES).exclude(tmux_pane_id="").only(*LOOK_FIELDS))
    gateway = gateway or local_gateway()
    panes = {pane.pane_id: pane for pane in gateway.list_panes()}
    operations_resume(host=host)
    if not agents:
        _heartbeat(host, panes, started)
        return 0
    before = {agent.pk: agent.state for agent in agents}
    gone_reason = "the window is gone" if panes else "the tmux server is not running"
    profiles = all_profiles()
    looks, alive = [], []
    for agent in agents:
        pane = panes.get(agent.tmux_pane_id)
        crash = crash_reason(agent, pane, profiles, gone_reason)
        if crash:
            looks.append(crashed(agent, crash))
        else:
            alive.append((agent, pane))
    # Only screens that changed since the last look (or never looked at) are captured.
    screens = gateway.capture_panes([agent.tmux_pane_id for agent, pane in alive if _needs_look(agent, pane)])
    for agent, pane in alive:
        looks.append(seen(agent, activity_time(pane), screens.get(agent.tmux_pane_id), profiles.get(agent.profile)))
    changed = agents_set_states(looks)
    _raise_alerts(agents, before)
    recover_crashed(agents=[agent for agent in agents if agent.state == AgentState.CRASHED])
    _after_looking(gateway, host, [agent for agent, _ in alive], profiles)
    _heartbeat(host, panes, started, agents=len(agents), changed=changed)
    return changed


def panes_observe(*, host: str, pane_ids: list[str], gateway: Gateway | None = None) -> dict[str, float]:
    """Look at the agents in panes that just printed, in one tmux round trip, and write what
    changed at once: what the watcher calls when a pane's output settles. Returns the panes
    to look at again, and in how many seconds (a hook outranked their screen for now)."""
    agents = list(Agent.objects.filter(host=host, state__in=WATCHED_STATES, tmux_pane_id__in=pane_ids)
                  .only(*LOOK_FIELDS))
    if not agents:
        return {}
    gateway = gateway or local_gateway()
    found = gateway.look_at_panes([agent.tmux_pane_id for agent in agents])
    profiles = all_profiles()
    before = {agent.pk: agent.state for agent in agents}
    looks, alive = [], []
    for agent in agents:
        pane, screen = found.get(agent.tmux_pane_id, (None, ""))
        crash = crash_reason(agent, pane, profiles, "the window is gone")
        looks.append(crashed(agent, crash) if crash else
                     seen(agent, activity_time(pane), screen, profiles.get(agent.profile)))
        if not crash:
            alive.append(agent)
    agents_set_states(looks)
    _raise_alerts(agents, before)
    _after_looking(gateway, host, alive, profiles)
    _keep_followed_screens(gateway, agents, {pane_id: screen for pane_id, (_, screen) in found.items()})
    return {look.agent.tmux_pane_id: HOOK_TRUSTED_FOR for look in looks if look.signal == Signal.HOOK}


def _keep_followed_screens(gateway: Gateway, agents: list[Agent], screens: dict[str, str]) -> None:
    """Save the screens someone follows live (the stream's `output`) that changed, with
    their colours (one more round trip, for those only)."""
    followed = PaneScreen.objects.filter(agent__in=agents, wanted_until__gt=timezone.now()).select_related("agent")
    changed = [screen for screen in followed
               if screens.get(screen.agent.tmux_pane_id) not in (None, screen.text)]
    if not changed:
        return
    try:
        coloured = gateway.capture_panes([screen.agent.tmux_pane_id for screen in changed], colours=True)
    except TmuxError as error:
        log.warning("could not read the followed screens' colours: %s", error)
        coloured = {}
    for screen in changed:
        pane_id = screen.agent.tmux_pane_id
        PaneScreen.objects.filter(pk=screen.pk).update(text=screens[pane_id], ansi=coloured.get(pane_id, ""),
                                                       changed_at=timezone.now())
    rows_changed()


def panes_told_lately(*, host: str, seconds: float) -> dict[int, str]:
    """{event id: pane} of the changes of state of `host`'s agents in the last `seconds` that
    something other than the screen told (delivery, a hook): the screen is to be looked at
    again after them, as the program may have moved on meanwhile (a shell's command that
    was over before delivery said "working")."""
    since = timezone.now() - timedelta(seconds=seconds)
    told = AgentEvent.objects.filter(agent__host=host, created_at__gte=since).exclude(signal=Signal.SCREEN)
    return dict(told.values_list("pk", "agent__tmux_pane_id"))


def followed_panes(*, host: str) -> set[str]:
    """The panes of `host` whose screens someone follows live now."""
    return set(PaneScreen.objects.filter(agent__host=host, wanted_until__gt=timezone.now())
               .values_list("agent__tmux_pane_id", flat=True))


def _after_looking(gateway: Gateway, host: str, alive: list[Agent], profiles: dict) -> None:
    """What waits on a look: a queued message for an agent that can take it, and the answer
    of one back at its prompt."""
    _resume_deliveries(host, alive)
    _record_replies(gateway, host, [agent for agent in alive if agent.state == AgentState.IDLE], profiles)


RECENT = 60  # the last figures a heartbeat keeps, for the dashboard's pictures


def _recent(name: str, key: str, value: float) -> list[float]:
    """The heartbeat's last RECENT figures of `key`, `value` the newest."""
    before = Heartbeat.objects.filter(name=name).values_list("details", flat=True).first() or {}
    kept = before.get(key) if isinstance(before.get(key), list) else []
    return [*kept[-(RECENT - 1):], value]


def _beat(name: str, details: dict) -> None:
    values = {"seen_at": timezone.now(), "details": details}
    if not Heartbeat.objects.filter(name=name).update(**values):
        Heartbeat.objects.update_or_create(name=name, defaults=values)


def _heartbeat(host: str, panes: dict, started: float, **details) -> None:
    """The worker of `host` is alive, and this is what it saw of tmux."""
    sweep_ms = round((time.monotonic() - started) * 1000, 1)
    details.update(tmux_running=bool(panes) or local_gateway_running(), panes=len(panes), sweep_ms=sweep_ms)
    if not details.get("just_started"):
        details["recent_sweep_ms"] = _recent(f"worker:{host}", "recent_sweep_ms", sweep_ms)
    _beat(f"worker:{host}", details)
    host_seen(host)


def watcher_heartbeat(*, host: str, cpu_percent: float, panes: int) -> None:
    """The watcher of `host` is alive, and what it costs: the share of a core it used."""
    cpu_percent = round(cpu_percent, 2)
    _beat(f"watcher:{host}", {"cpu_percent": cpu_percent, "panes": panes,
                              "recent_cpu_percent": _recent(f"watcher:{host}", "recent_cpu_percent", cpu_percent)})


def worker_started() -> None:
    _heartbeat(settings.TMUX_ORC.agent_host, {}, time.monotonic(), just_started=True)
    profile_versions_record(host=settings.TMUX_ORC.agent_host)


def profile_versions_record(*, host: str) -> list:
    """Check the version of each agent program installed on this host against the version its
    profile's screen markers were read from; warn of each that differs, and keep what was
    found (`profiles:<host>`) for /monitor/health."""
    checks = [check for check in versions_check() if check.status != "not installed"]
    for check in checks:
        if check.mismatch:
            log.warning("profile %s: %s %s", check.profile, check.program, check.detail)
    _beat(f"profiles:{host}", {c.profile: {"program": c.program, "expected": c.expected, "found": c.found,
                                           "status": c.status, "detail": c.detail} for c in checks})
    return checks


def local_gateway_running() -> bool:
    return local_gateway().is_running()


def hosts_to_sweep() -> list[str]:
    """Hosts with live agents, and hosts whose worker was seen in the last day."""
    recent = timezone.now() - timedelta(days=1)
    workers = Heartbeat.objects.filter(name__startswith="worker:", seen_at__gte=recent).values_list("name", flat=True)
    return sorted(set(hosts_with_live_agents()) | {name.split(":", 1)[1] for name in workers})


def beat_heartbeat() -> None:
    """For tests and tools: beat was here now."""
    Heartbeat.objects.update_or_create(name="beat", defaults={"seen_at": timezone.now()})


INPUT_NEVER_FOUND = timedelta(minutes=2)  # a program still starting this long: its input is not read


def _markers_may_not_match(agent: Agent) -> str:
    profile = all_profiles().get(agent.profile)
    read_from = f" (read from {profile.program} {profile.version})" if profile and profile.version else ""
    return (f"the screen markers of profile {agent.profile}{read_from} may not match the program installed on host "
            f"{agent.host}; `tmux-orc profiles check` there says which version it is")


def _raise_alerts(agents: list[Agent], before: dict[int, str]) -> None:
    """Crashes and stuck agents as they happen; permission prompts left waiting too long."""
    waited_too_long = timezone.now() - timedelta(seconds=settings.TMUX_ORC.approval_alert_after)
    never_drawn = timezone.now() - INPUT_NEVER_FOUND
    for agent in agents:
        changed = before[agent.pk] != agent.state
        if changed and agent.state == AgentState.CRASHED:
            alert_raise(agent=agent, kind=AlertKind.CRASHED, text=f"{agent.target} crashed: {agent.state_reason}")
        elif changed and agent.state == AgentState.STUCK:
            alert_raise(agent=agent, kind=AlertKind.STUCK, text=f"{agent.target} is stuck: {agent.state_reason}. "
                        f"If it is in fact idle, {_markers_may_not_match(agent)}")
        elif agent.state == AgentState.STARTING and agent.state_changed_at < never_drawn:
            seconds = (timezone.now() - agent.state_changed_at).total_seconds()
            alert_raise(agent=agent, kind=AlertKind.SCREEN_MARKERS,
                        text=f"{agent.target}: its input has not been found on its screen {seconds:.0f} s after it "
                             f"started: {_markers_may_not_match(agent)}")
        elif agent.state == AgentState.WAITING_APPROVAL and agent.state_changed_at < waited_too_long:
            minutes = (timezone.now() - agent.state_changed_at).total_seconds() / 60
            alert_raise(agent=agent, kind=AlertKind.WAITING_APPROVAL,
                        text=f"{agent.target} has been waiting {minutes:.0f} min for a permission answer")


REPLY_HISTORY_LINES = 300


def _record_replies(gateway: Gateway, host: str, idle: list[Agent], profiles: dict) -> None:
    """For agents back at their prompt, keep what they answered to their last message."""
    recent = timezone.now() - timedelta(hours=1)
    unanswered = {  # the host's, not a list of ids: a query that costs the same for 500 agents
        m.agent_id: m
        for m in Message.objects.filter(agent__host=host, status=MessageStatus.DELIVERED, replied_at=None,
                                        delivered_at__gte=recent).order_by("delivered_at")
    }
    agents = [agent for agent in idle if agent.pk in unanswered]
    if not agents:
        return
    screens = gateway.capture_panes([a.tmux_pane_id for a in agents], history=REPLY_HISTORY_LINES)
    for agent in agents:
        message, profile = unanswered[agent.pk], profiles.get(agent.profile)
        later = Message.objects.filter(agent=agent, delivered_at__gt=message.delivered_at).exists()
        reply = "" if later or profile is None else reply_after(screens.get(agent.tmux_pane_id, ""), message.body, profile)
        # Idle since after the message went in: its turn is over, and what it answered (perhaps
        # nothing) is on the screen now. Kept, so the screen is not read again for it.
        finished = agent.state_changed_at > message.delivered_at
        if reply or later or finished:
            Message.objects.filter(pk=message.pk).update(reply=reply, replied_at=timezone.now())


def _resume_deliveries(host: str, agents: list[Agent]) -> None:
    """Wake delivery for agents that can take a waiting message now: idle ones, or any
    with an urgent message or one a worker left half-delivered."""
    waiting = Message.objects.filter(agent__host=host, status__in=[MessageStatus.QUEUED, MessageStatus.DELIVERING])
    ready: dict[int, bool] = {}  # agent id: whether it must be woken even if not idle
    for agent_id, urgent, status in waiting.values_list("agent_id", "urgent", "status"):
        ready[agent_id] = ready.get(agent_id, False) or urgent or status == MessageStatus.DELIVERING
    for agent in agents:
        if agent.pk in ready and (agent.state == AgentState.IDLE or ready[agent.pk]):
            enqueue_delivery(agent)


def _needs_look(agent: Agent, pane: PaneInfo) -> bool:
    """Whether the screen may differ from the last look. tmux keeps activity in whole
    seconds, so output in the same second as the last one does not change it: a pane
    stays worth a look until one sweep has seen it a full second after its last output.
    A hook that outranked the screen a moment ago wants the screen looked at again."""
    activity = activity_time(pane)
    recent = (timezone.now() - activity).total_seconds() < settings.TMUX_ORC.health_check_interval + 1.5
    hooked = agent.hook_at and (timezone.now() - agent.hook_at).total_seconds() < (
        settings.TMUX_ORC.health_check_interval + HOOK_TRUSTED_FOR + 1.5)
    return (recent or hooked or activity != agent.last_activity_at
            or agent.state in (AgentState.STARTING, AgentState.CRASHED))


# --- the schedule ---------------------------------------------------------------------------

SCHEDULE = {
    # name: (task, seconds or a setting's name)
    "Health sweep of every host": ("monitoring.sweep_hosts", "health_check_interval"),
    "Expire undelivered messages": ("monitoring.expire_messages", 60.0),
    "Queue scheduled messages when due": ("monitoring.release_messages", 10.0),
    "Close standups whose time is up": ("teams.finish_standups", 10.0),
    "Run again task checks whose job went missing": ("tasks.resume_checks", 60.0),
    "Send alerts whose job went missing": ("monitoring.resume_alerts", 60.0),
}
EXPIRES_AT = 0.8  # of a periodic job's period


def periodic_expiry(period: float) -> float:
    """Seconds after which a periodic job no worker started is dropped: a little before the
    next one is due, so a slow worker runs the newest rather than a pile of old ones."""
    return EXPIRES_AT * period


def schedule_ensure() -> None:
    """Write the periodic jobs into django-celery-beat's tables. Intervals follow the
    configuration at each start; a job paused in the admin stays paused."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    for name, (task, every) in SCHEDULE.items():
        seconds = getattr(settings.TMUX_ORC, every) if isinstance(every, str) else every
        period = max(1, round(seconds))
        interval, _ = IntervalSchedule.objects.get_or_create(every=period, period=IntervalSchedule.SECONDS)
        # Whole seconds, and 0 would mean never: a 1 s job expires at its next run.
        expires = max(1, int(periodic_expiry(period)))
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "interval": interval, "expire_seconds": expires}
        )


def beat_tick() -> bool:
    """Claim this interval's fan-out: True for the first beat to ask, so two beat
    processes started by mistake still sweep once per interval."""
    now = timezone.now()
    window = timedelta(seconds=0.8 * settings.TMUX_ORC.health_check_interval)
    beat, created = Heartbeat.objects.get_or_create(name="beat", defaults={"seen_at": now})
    if created:
        return True
    return bool(Heartbeat.objects.filter(pk=beat.pk, seen_at__lte=now - window).update(seen_at=now))


# --- the supervisor (tmux-orc server start) -------------------------------------------------

def supervisor_started(*, host: str, processes: list[str]) -> None:
    """A new `tmux-orc server start` on `host` runs `processes`: their counts begin at zero.
    One row per process, so supervisors of different parts on one host (containers) keep
    their own."""
    for process in processes:
        _supervised_process(host, process, {"restarts": 0})


def supervisor_restarted(*, host: str, process: str, exit_status: str, restarts: int) -> None:
    """The supervisor on `host` is starting `process` again after it exited."""
    _supervised_process(host, process, {"restarts": restarts, "last_exit": exit_status,
                                        "last_restart_at": timezone.now().isoformat()})


def _supervised_process(host: str, process: str, details: dict) -> None:
    Heartbeat.objects.update_or_create(name=f"service:{host}:{process}",
                                       defaults={"seen_at": timezone.now(), "details": details})
