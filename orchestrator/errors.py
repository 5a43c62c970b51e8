"""Domain errors. Services raise them; one handler turns them into API responses,
and the CLI and admin print their message."""


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
