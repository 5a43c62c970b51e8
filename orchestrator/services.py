"""Writes for API tokens."""

import secrets

from django.db import IntegrityError
from django.utils import timezone

from orchestrator.errors import Conflict, NotFound
from orchestrator.models import ApiToken, token_digest

TOKEN_PREFIX = "tmo_"


def token_create(*, name: str) -> tuple[ApiToken, str]:
    """Create a token; return it with its raw value, which is not stored and not shown again."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        token = ApiToken.objects.create(name=name, digest=token_digest(raw), prefix=raw[:10])
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
