"""Runyard: record experiments, queue them, run them on agents, rerun any of them."""

from runyard._version import __version__
from runyard.client import Client
from runyard.errors import (
    ApiError,
    AuthError,
    ConflictError,
    InvalidError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RunyardError,
    ServerError,
    ServerUnreachable,
    StaleLeaseError,
    TooLargeError,
)
from runyard.task import Run, Task

__all__ = [
    "ApiError",
    "AuthError",
    "Client",
    "ConflictError",
    "InvalidError",
    "NotFoundError",
    "ProtocolError",
    "RateLimitedError",
    "Run",
    "RunyardError",
    "ServerError",
    "ServerUnreachable",
    "StaleLeaseError",
    "Task",
    "TooLargeError",
    "__version__",
]
