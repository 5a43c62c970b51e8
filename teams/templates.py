"""Team templates: who a team of N is made of. Built-ins, and `[teams.templates.NAME]`
from the config (which may replace a built-in)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from orchestrator.errors import InvalidInput

MAX_TEAM_SIZE = 20


@dataclass(frozen=True)
class MemberSpec:
    role: str
    briefing: str = ""
    skills: tuple[str, ...] = ()
    profile: str | None = None
    host: str | None = None  # an agent host, or auto; None: the deploy's, or the default


@dataclass(frozen=True)
class TeamTemplate:
    name: str
    description: str
    members: tuple[MemberSpec, ...] = field(default_factory=tuple)

    def members_for(self, size: int) -> list[MemberSpec]:
        """The first `size` members; past the list, its engineers (all but the first) again."""
        if not 1 <= size <= MAX_TEAM_SIZE:
            raise InvalidInput(f"size: a team has 1 to {MAX_TEAM_SIZE} members")
        engineers = self.members[1:] or self.members
        extra = [engineers[i % len(engineers)] for i in range(max(0, size - len(self.members)))]
        return [*self.members[:size], *extra]


PM = MemberSpec("pm", "Lead the team: split the work into tasks, assign them, review what comes back.",
                ("Project Management", "Agile"))

BUILTIN_TEMPLATES = {
    t.name: t
    for t in [
        TeamTemplate("frontend", "A PM and frontend engineers", (
            PM,
            MemberSpec("developer", "Build the UI: components, state management, styling.", ("React", "TypeScript", "CSS")),
            MemberSpec("qa", "Test the UI in browsers: flows, accessibility, regressions.", ("Playwright", "Accessibility")),
            MemberSpec("developer", "Own client-side data: API calls, caching, forms.", ("TypeScript", "REST")),
        )),
        TeamTemplate("backend", "A PM and backend engineers", (
            PM,
            MemberSpec("developer", "Build the API and the data model.", ("Python", "SQL", "REST")),
            MemberSpec("qa", "Test the API: contracts, edge cases, load.", ("pytest", "API testing")),
            MemberSpec("devops", "Keep builds, deployments and databases healthy.", ("Docker", "CI", "PostgreSQL")),
        )),
        TeamTemplate("fullstack", "A PM, frontend and backend engineers", (
            PM,
            MemberSpec("developer", "Own the backend: API, data model, migrations.", ("Python", "SQL")),
            MemberSpec("developer", "Own the frontend: UI components and their state.", ("React", "TypeScript")),
            MemberSpec("qa", "Test features end to end, across UI and API.", ("Playwright", "pytest")),
            MemberSpec("reviewer", "Review every change before it is merged.", ("Code review",)),
        )),
        TeamTemplate("testing", "A PM and QA engineers", (
            PM,
            MemberSpec("qa", "Write and run the end-to-end tests; report defects with steps.", ("Playwright", "pytest")),
            MemberSpec("qa", "Exploratory testing and regression lists.", ("Exploratory testing",)),
            MemberSpec("reviewer", "Review the tests themselves for gaps.", ("Test design",)),
        )),
    ]
}


def all_templates() -> dict[str, TeamTemplate]:
    templates = dict(BUILTIN_TEMPLATES)
    for name, spec in settings.TMUX_ORC.team_templates.items():
        members = tuple(
            MemberSpec(m["role"], str(m.get("briefing", "")), tuple(m.get("skills", ())), m.get("profile"), m.get("host"))
            for m in spec["members"]
        )
        templates[name] = TeamTemplate(name, spec["description"], members)
    return templates


def get_template(name: str) -> TeamTemplate:
    template = all_templates().get(name)
    if template is None:
        raise InvalidInput(f"template: unknown team type {name!r}; known: {', '.join(sorted(all_templates()))}")
    return template
