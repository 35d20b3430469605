"""Runyard: record experiments, queue them, run them on agents, rerun any of them."""

__version__ = "0.1.0"

# Imported after __version__: the client sends it in its User-Agent.
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
from runyard.task import Task

__all__ = [
    "ApiError",
    "AuthError",
    "Client",
    "ConflictError",
    "InvalidError",
    "NotFoundError",
    "ProtocolError",
    "RateLimitedError",
    "RunyardError",
    "ServerError",
    "ServerUnreachable",
    "StaleLeaseError",
    "Task",
    "TooLargeError",
    "__version__",
]
