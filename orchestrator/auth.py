"""Bearer-token authentication for the API."""

from rest_framework import authentication, exceptions

from orchestrator.services import token_check


class TokenUser:
    """The caller of an API request: a token, not a Django user."""

    is_authenticated = True
    is_active = True

    def __init__(self, token):
        self.token = token

    def __str__(self) -> str:
        return f"token:{self.token.name}"


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace").split()
        if not header or header[0].lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("the Authorization header must be 'Bearer <token>'")
        token = token_check(header[1])
        if token is None:
            raise exceptions.AuthenticationFailed("invalid or revoked token")
        return TokenUser(token), token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="tmux-orchestrator"'


# Agent types whose own token may act for others (spawn, assign, message other teams).
LEAD_ROLES = ("orchestrator", "pm")


def acting_agent(request):
    """The agent whose own token made the request, or None for a person's token."""
    token = getattr(request, "auth", None)
    return getattr(token, "agent", None)


def acting_limited_agent(request):
    """The agent behind the request if its token is limited to its own work (not a lead)."""
    agent = acting_agent(request)
    return agent if agent is not None and agent.agent_type not in LEAD_ROLES else None


def require_lead(request, what: str) -> None:
    """Refuse `what` to an agent's own token unless the agent is a lead."""
    from orchestrator.errors import Forbidden

    agent = acting_limited_agent(request)
    if agent is not None:
        raise Forbidden(f"{agent.target} ({agent.agent_type}) cannot {what}; ask the team's PM")
