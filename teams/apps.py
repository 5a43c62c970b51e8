from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "teams"

    def ready(self) -> None:
        from agents.briefs import brief_provider
        from teams.selectors import teams_brief

        # An orchestrator agent is told the teams there are.
        brief_provider(20)(lambda agent: teams_brief() if agent.agent_type == "orchestrator" else "")
