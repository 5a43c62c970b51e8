"""Agent types (roles): the built-in ones and `[agents.custom_types.NAME]` from config."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class AgentType:
    name: str
    briefing: str
    required_tools: tuple[str, ...] = ()
    default_timeout: float | None = None

    @property
    def default_briefing(self) -> str:
        """The briefing of an agent spawned without one."""
        if not self.required_tools:
            return self.briefing
        return f"{self.briefing}\nTools you are expected to use: {', '.join(self.required_tools)}.".strip()


BUILTIN_TYPES = {
    t.name: t
    for t in [
        AgentType("orchestrator", "You coordinate every team: deploy them, watch their progress, unblock them."),
        AgentType("pm", "You are the project manager: plan the work, assign it, hold the team to its specs."),
        AgentType("developer", "You are a software developer: write code, fix bugs, keep the tests green."),
        AgentType("qa", "You are the QA engineer: test the work, report defects with steps to reproduce."),
        AgentType("devops", "You run the infrastructure: builds, deployments, environments, monitoring."),
        AgentType("reviewer", "You review changes: correctness, readability, tests; say what must change."),
    ]
}


def all_agent_types() -> dict[str, AgentType]:
    types = dict(BUILTIN_TYPES)
    for name, spec in settings.TMUX_ORC.custom_types.items():
        types[name] = AgentType(
            name=name,
            briefing=spec["briefing"],
            required_tools=tuple(spec["required_tools"]),
            default_timeout=spec["default_timeout"],
        )
    return types


def get_agent_type(name: str) -> AgentType | None:
    return all_agent_types().get(name)


def wait_timeout(agent_type: str) -> float:
    """How long interfaces wait for a tmux operation on an agent of this type."""
    found = get_agent_type(agent_type)
    if found and found.default_timeout:
        return found.default_timeout
    return settings.TMUX_ORC.default_timeout
