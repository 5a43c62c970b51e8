"""What the apps above agents add to an agent's briefing when it (re)starts: tasks its open
tasks, teams the teams there are. They register here when Django starts (their AppConfig),
so agents imports neither of them."""

from __future__ import annotations

from collections.abc import Callable

_providers: list[tuple[int, Callable]] = []


def brief_provider(order: int):
    """Register `provider(agent) -> str` ("" for nothing); lower `order` comes first."""

    def register(provider: Callable) -> Callable:
        if provider not in [p for _, p in _providers]:
            _providers.append((order, provider))
            _providers.sort(key=lambda pair: pair[0])
        return provider

    return register


def context_briefs(agent) -> list[str]:
    return [provider(agent) for _, provider in _providers]
