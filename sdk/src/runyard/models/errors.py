"""The error body every 4xx and 5xx response carries, and the codes it may hold."""

from enum import StrEnum

from pydantic import BaseModel


class ErrorCode(StrEnum):
    """The ``error`` field of an error body: what went wrong, for a program to branch on."""

    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    STALE_LEASE = "stale_lease"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    INVALID = "invalid"
    NO_CODE = "no_code"
    """A task with no code to run (no ``script.entry_point``) cannot be queued."""
    TOO_MANY_REQUESTS = "too_many_requests"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"
    STORE_FULL = "store_full"
    INSUFFICIENT_STORAGE = "insufficient_storage"
    ERROR = "error"
    """A status with no code of its own."""


class ErrorBody(BaseModel):
    error: ErrorCode
    detail: str
