"""Exceptions raised by the Runyard SDK, its client and its CLI.

Every exception the SDK raises on purpose derives from :class:`RunyardError`::

    RunyardError
     ├── ServerUnreachable        no answer from the server, retries spent
     ├── ProtocolError            the server answered with something this SDK cannot read
     └── ApiError                 the server answered with an error (status, code, detail)
          ├── AuthError           401 / 403
          ├── NotFoundError       404
          ├── ConflictError       409
          │    └── StaleLeaseError    409 with code ``stale_lease``
          ├── TooLargeError       413
          ├── InvalidError        422 (and 400)
          ├── RateLimitedError    429, retries spent
          └── ServerError         5xx, retries spent (a server bug or an overloaded proxy)

The transport (``runyard.client._http``) is the only place that turns HTTP outcomes
into these classes.
"""

from __future__ import annotations

from runyard.models.errors import ErrorCode


class RunyardError(Exception):
    """Root of every exception the Runyard SDK raises on purpose."""


class ServerUnreachable(RunyardError):
    """Raised when the server could not be reached (refused, reset, timed out) after retries."""

    def __init__(self, url: str, reason: str, attempts: int) -> None:
        self.url = url
        self.reason = reason
        self.attempts = attempts
        super().__init__(
            f"cannot reach the Runyard server at {url} after {attempts} attempt(s): {reason}. "
            "Is runyard-server running? Point the SDK at it with RUNYARD_SERVER=http://HOST:PORT "
            "(or --server on the command line)."
        )


class ProtocolError(RunyardError):
    """Raised when a response does not have the shape this SDK version expects."""


class ApiError(RunyardError):
    """Raised when the server answers with an error status.

    ``status`` is the HTTP status, ``code`` the ``error`` field of the body
    (``not_found``, ``conflict``, ...) and ``detail`` the server's human message.
    ``retried`` is True when an earlier attempt of the same request may have reached
    the server, so a 409 or 404 can be the echo of that attempt's success.
    """

    def __init__(self, status: int, code: str, detail: str, *, retried: bool = False) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.retried = retried
        super().__init__(self._message())

    def _message(self) -> str:
        return f"{self.detail} ({self.status} {self.code})"


class AuthError(ApiError):
    """Raised on 401 (no or wrong token) and 403 (the token's role may not do this)."""

    def _message(self) -> str:
        hint = (
            "set RUNYARD_TOKEN (or pass --token) to a token the server accepts"
            if self.status == 401
            else "this token's role may not do this; use a user token in RUNYARD_TOKEN"
        )
        return f"{self.detail} ({self.status} {self.code}): {hint}"


class NotFoundError(ApiError):
    """Raised when the task, queue or worker does not exist (404)."""


class ConflictError(ApiError):
    """Raised when the request conflicts with the current state (409): an illegal transition."""


class StaleLeaseError(ConflictError):
    """Raised when an agent report carries a lease token that is no longer the task's (409)."""


class TooLargeError(ApiError):
    """Raised when a body, log batch, diff or artifact is over a documented limit (413)."""


class InvalidError(ApiError):
    """Raised when the server refuses the request's content (422, or 400 for bad parameters)."""


class RateLimitedError(ApiError):
    """Raised when the server still answers 429 after every retry."""


class ServerError(ApiError):
    """Raised when the server still answers 5xx after every retry."""


def error_for(status: int, code: str, detail: str, *, retried: bool = False) -> ApiError:
    """The :class:`ApiError` subclass for an HTTP ``status`` and error ``code``."""
    cls: type[ApiError]
    if status == 409 and code == ErrorCode.STALE_LEASE:
        cls = StaleLeaseError
    elif status >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(status, ApiError)
    return cls(status, code, detail, retried=retried)


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidError,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    413: TooLargeError,
    422: InvalidError,
    429: RateLimitedError,
}

TRANSIENT = (ServerUnreachable, ServerError, RateLimitedError)
"""Client failures worth retrying later: the server is away, overloaded or broken for now."""
