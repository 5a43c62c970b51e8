"""Writes for API tokens."""

import secrets

from django.db import IntegrityError
from django.utils import timezone

from orchestrator.errors import Conflict, NotFound
from orchestrator.models import ApiToken, token_digest

TOKEN_PREFIX = "tmo_"


def token_create(*, name: str, agent=None) -> tuple[ApiToken, str]:
    """Create a token (a person's, or with `agent` that agent's own); return it with its
    raw value, which is not stored and not shown again."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        token = ApiToken.objects.create(name=name, digest=token_digest(raw), prefix=raw[:10], agent=agent)
    except IntegrityError:
        raise Conflict(f"a token named '{name}' already exists") from None
    return token, raw


def token_revoke(*, name: str) -> ApiToken:
    token = ApiToken.objects.filter(name=name).first()
    if token is None:
        raise NotFound(f"no token named '{name}'")
    ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now())
    token.refresh_from_db()
    return token


def token_check(raw: str) -> ApiToken | None:
    """The active token with this raw value, marking it used; None if there is none."""
    token = ApiToken.objects.filter(digest=token_digest(raw), revoked_at=None).first()
    if token is not None:
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def agent_token_issue(*, agent) -> str:
    """A fresh token for the agent's own use, replacing the one it had; the raw value goes
    into the new program's environment only."""
    now = timezone.now()
    ApiToken.objects.filter(agent=agent, revoked_at=None).update(revoked_at=now)
    _, raw = token_create(name=f"agent:{agent.target}:{agent.pk}:{secrets.token_hex(3)}"[:100], agent=agent)
    return raw
