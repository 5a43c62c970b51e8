"""Domain errors. Services raise them; one handler turns them into API responses,
and the CLI and admin print their message."""

import re

from django.views.debug import SafeExceptionReporterFilter


class OrchestratorError(Exception):
    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(OrchestratorError):
    status_code = 400


class NotFound(OrchestratorError):
    status_code = 404


class Conflict(OrchestratorError):
    status_code = 409


class Busy(OrchestratorError):
    status_code = 429


class Unavailable(OrchestratorError):
    status_code = 503


class Forbidden(OrchestratorError):
    status_code = 403


class SettingsFilter(SafeExceptionReporterFilter):
    """What a debug error page shows of the settings: Django's filter, which hides names like
    KEY, TOKEN and PASSWORD, also hides URLs (a broker's or database's holds its password)
    and the orchestrator's own settings shows through `Config`'s redacted repr."""

    hidden_settings = re.compile("API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|DSN|WEBHOOK", flags=re.I)
