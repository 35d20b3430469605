"""Domain errors of the server; ``api.errors`` maps each to one HTTP status.

RunyardServerError
├── NotFound       404  an unknown task, queue or worker
├── Conflict       409  an illegal transition, a name taken, a queue not empty
│   └── StaleLease 409  an agent report whose lease token is no longer the task's
├── Invalid        422  input that parses but makes no sense
│   └── NoCode     422  queueing a task that has no code to run
├── TooLarge       413  a body, batch, diff or artifact over its limit
├── Unauthorized   401  no token, or a wrong one
├── Forbidden      403  the token's role may not do this
├── StorageFull    507  the artifact disk is full (nothing was stored)
├── StoreUnavailable 503  the object store (S3) cannot be reached or refused the server
└── Damaged        500  a stored object no longer matches the sha256 taken when it was written

A Redis out of memory is answered 503 ``store_full`` by ``api.errors`` directly.
"""

from runyard.models import ErrorCode


class RunyardServerError(Exception):
    """Root of every error the server raises on purpose."""

    status_code = 500
    code = ErrorCode.INTERNAL

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(RunyardServerError):
    """Raised when a task, queue or worker does not exist."""

    status_code = 404
    code = ErrorCode.NOT_FOUND


class Conflict(RunyardServerError):
    """Raised when the request does not fit the current state (the detail names it)."""

    status_code = 409
    code = ErrorCode.CONFLICT


class StaleLease(Conflict):
    """Raised when an agent reports with a lease token the task no longer has."""

    code = ErrorCode.STALE_LEASE


class Invalid(RunyardServerError):
    """Raised when well-formed input is still unusable."""

    status_code = 422
    code = ErrorCode.INVALID


class NoCode(Invalid):
    """Raised when a task without code (no ``script.entry_point``) would be queued."""

    code = ErrorCode.NO_CODE


class TooLarge(RunyardServerError):
    """Raised when a body or a part of it is over its documented limit."""

    status_code = 413
    code = ErrorCode.TOO_LARGE


class Unauthorized(RunyardServerError):
    """Raised when a token is required and missing or wrong."""

    status_code = 401
    code = ErrorCode.UNAUTHORIZED


class Forbidden(RunyardServerError):
    """Raised when the token is valid but its role may not do this."""

    status_code = 403
    code = ErrorCode.FORBIDDEN


class StorageFull(RunyardServerError):
    """Raised when the server's disk has no room for a file; nothing of it was kept."""

    status_code = 507
    code = ErrorCode.INSUFFICIENT_STORAGE


class StoreUnavailable(RunyardServerError):
    """Raised when the object store (S3) cannot be reached or refuses a request; nothing
    was changed, and a retry may succeed."""

    status_code = 503
    code = ErrorCode.UNAVAILABLE


class Damaged(RunyardServerError):
    """Raised when a stored object does not match the sha256 recorded when it was written."""

    status_code = 500
    code = ErrorCode.INTERNAL
