"""What one look at an agent's pane means: the same for the watcher (a pane that just
printed) and for the sweep (every pane, every few seconds).

A look is tmux's word on the process (is the pane there, did its program exit) and the
screen's word on the program, weighed against the program's own last word (a hook).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.utils import timezone

from agents.delivery import took_message_lately
from agents.gateway import PaneInfo
from agents.hooks import HOOK_TRUSTED_FOR, hook_outranks_screen
from agents.models import Agent, AgentState, Signal, StateSeen
from agents.profiles import Profile
from agents.screens import Reading, read_screen

SHELLS = {"bash", "sh", "zsh", "fish", "dash", "ksh", "tcsh", "csh"}
RECENT_OUTPUT_SECONDS = 3.0
OBSERVATION_REFRESH = timedelta(seconds=10)  # how stale the reading kept for `explain` may get
# What a look reads of each agent; the rest (the briefing above all) loads if a restart needs it.
LOOK_FIELDS = ["name", "session_name", "profile", "host", "tmux_pane_id", "state", "state_reason", "state_changed_at",
               "last_activity_at", "recovery_attempts", "next_recovery_at", "observed_at", "hook_event", "hook_state",
               "hook_at"]


def crash_reason(agent: Agent, pane: PaneInfo | None, profiles: dict, gone_reason: str) -> str:
    """Why tmux says the agent's program is not running, or "" if it is."""
    # A restarted tmux server hands out pane ids from %0 again: the id must also be in
    # the agent's own window to be the agent's pane.
    if pane is None or (pane.session_name, pane.window_name) != (agent.session_name, agent.name):
        return gone_reason
    if pane.dead:  # tmux may see the pane close a moment before it has the exit status
        return "the program exited" + (f" with status {pane.dead_status}" if pane.dead_status is not None else "")
    profile = profiles.get(agent.profile)
    if profile and profile.program not in SHELLS and pane.current_command in SHELLS:
        return "the agent program exited back to a shell"
    return ""


def crashed(agent: Agent, reason: str) -> StateSeen:
    observation = {"signal": Signal.PROCESS, "state": AgentState.CRASHED, "matched": [reason], "lines": []}
    return StateSeen(agent, AgentState.CRASHED, reason, _observed(agent, AgentState.CRASHED, observation),
                     signal=Signal.PROCESS)


def seen(agent: Agent, activity: datetime, screen: str | None, profile: Profile | None) -> StateSeen:
    """The state of a live agent from its screen (None: the same screen as last time)."""
    quiet = (timezone.now() - activity).total_seconds()
    readable = bool(profile and profile.input_style)
    reading = None
    if screen is not None:
        reading = read_screen(screen, profile) if profile else Reading(None, (), ())
        state, evidence = reading.state, "; ".join(reading.matched)
    else:  # unchanged: the same state, though an unreadable program's output may have stopped
        state = None if agent.state == AgentState.WORKING and not readable else agent.state
        evidence = ""
    if state is None and agent.state == AgentState.STARTING and readable:
        state, evidence = AgentState.STARTING, "its input is not drawn yet"
    if state == AgentState.IDLE and agent.state == AgentState.WORKING and profile and took_message_lately(agent, profile):
        state, evidence = AgentState.WORKING, (f"it took a message less than {profile.busy_after_submit:.0f} s ago "
                                               "and shows its work late")
    if state is None:  # no input on screen means busy; for a program we cannot read, its output
        state = AgentState.WORKING if readable or quiet < RECENT_OUTPUT_SECONDS else AgentState.IDLE
        evidence = ("no input on screen: busy" if readable else
                    f"its output {'is recent' if state == AgentState.WORKING else 'stopped'} (its input cannot be read)")
    reason = f"seen on screen: {evidence}" if state != agent.state else agent.state_reason
    signal = Signal.SCREEN
    if state == AgentState.WORKING and quiet > settings.TMUX_ORC.stuck_after:
        stuck_for = f"working, but its screen has not changed for {quiet:.0f} s"
        state, reason = AgentState.STUCK, agent.state_reason if agent.state == AgentState.STUCK else stuck_for
    elif reading is not None:
        state, reason, signal = weigh_hook(agent, state, reason)
    fields = {"last_activity_at": activity} if agent.last_activity_at != activity else {}
    if reading is not None:
        observation = {"signal": Signal.SCREEN, "state": reading.state or state, "matched": list(reading.matched)
                       or [evidence], "lines": list(reading.lines)}
        fields.update(_observed(agent, state, observation))
    return StateSeen(agent, state, reason, fields, signal=signal)


def weigh_hook(agent: Agent, state: str, reason: str) -> tuple[str, str, str]:
    """(state, reason, signal) once the screen's `state` is weighed against the program's
    last hook. A hook is the program's own word and comes first: for a few seconds a screen
    that disagrees is taken to lag behind it, as long as the state is still the hook's (a
    delivery since, say, is newer). After that, the screen is the newer word."""
    if not agent.hook_at or not agent.hook_state or state == agent.hook_state:
        return state, reason, Signal.SCREEN
    if hook_outranks_screen(agent):
        return agent.hook_state, (
            f"hook {agent.hook_event} said {agent.hook_state} less than {HOOK_TRUSTED_FOR:.0f} s ago; the screen "
            f"({state}) has not caught up yet"), Signal.HOOK
    if state == agent.state:
        return state, reason, Signal.SCREEN
    return state, (f"{reason}; the screen wins over hook {agent.hook_event} ({agent.hook_state}), "
                   f"older than {HOOK_TRUSTED_FOR:.0f} s"), Signal.SCREEN


def _observed(agent: Agent, state: str, observation: dict) -> dict:
    """The reading to keep for `explain`: when the state changes, else now and then."""
    now = timezone.now()
    if state == agent.state and agent.observed_at and now - agent.observed_at < OBSERVATION_REFRESH:
        return {}
    return {"observation": {**observation, "at": now.isoformat()}, "observed_at": now}


def activity_time(pane: PaneInfo) -> datetime:
    return datetime.fromtimestamp(pane.activity, dt_timezone.utc)
