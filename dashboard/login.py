"""The one-time link the start banner prints: it logs the local user in to the dashboard,
as Jupyter's token link does, without a password to make first.

The link is a Django token over the user's last login (as a password reset's is over the
password), so it works once, and for LINK_MAX_AGE seconds at most.
"""

from __future__ import annotations

import getpass

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils.encoding import force_bytes, force_str
from django.utils.http import base36_to_int, urlsafe_base64_decode, urlsafe_base64_encode

LINK_MAX_AGE = 15 * 60


class OneTimeLogin(PasswordResetTokenGenerator):
    key_salt = "dashboard.login.OneTimeLogin"

    def check_token(self, user, token) -> bool:
        if not super().check_token(user, token):
            return False
        try:
            made = base36_to_int(token.split("-")[0])
        except ValueError:
            return False
        return self._num_seconds(self._now()) - made <= LINK_MAX_AGE


one_time_login = OneTimeLogin()


def local_user():
    """The person running the service: a staff account named after their login, made on
    first use (with no password: they come in by link, or set one with changepassword).
    None when an account of that name exists and is not an active staff member."""
    name = getpass.getuser() or "local"
    user, made = get_user_model().objects.get_or_create(
        username=name, defaults={"is_staff": True, "is_superuser": True})
    if made:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user if user.is_active and user.is_staff else None


def login_link(base_url: str) -> str | None:
    user = local_user()
    if user is None:
        return None
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return f"{base_url.rstrip('/')}/login/once/{uid}/{one_time_login.make_token(user)}"


def user_of_link(uid: str, token: str):
    """The staff user the link logs in, or None if it was used, is too old or is not one."""
    try:
        user = get_user_model().objects.get(pk=int(force_str(urlsafe_base64_decode(uid))))
    except (ValueError, TypeError, OverflowError, get_user_model().DoesNotExist):
        return None
    if not (user.is_active and user.is_staff and one_time_login.check_token(user, token)):
        return None
    return user
