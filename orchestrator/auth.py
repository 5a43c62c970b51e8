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


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """A staff member logged in to the dashboard or the admin, for what a browser reads
    without a bearer header (the live stream). Anyone else gets no user from it."""

    def authenticate(self, request):
        found = super().authenticate(request)
        if found is None or not (found[0].is_active and found[0].is_staff):
            return None
        return found
