"""Runyard: record experiments, queue them, run them on agents, rerun any of them.

``Client``, ``Task``, ``Run``, ``Pipeline`` and ``Sweep`` are imported on first use (PEP
562): they pull in ``requests``, and the ``runyard`` CLI, which lives in this package, must
start fast.
"""

import typing

from runyard._version import __version__
from runyard.capture import origin as _origin
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

# Now, while the cwd is still the one the script started in (Hydra changes it later).
_origin.remember_start_cwd()

if typing.TYPE_CHECKING:
    from runyard.client import Client
    from runyard.pipeline import Pipeline
    from runyard.sweep import Sweep
    from runyard.task import Run, Task

_LAZY = {
    "Client": "runyard.client",
    "Pipeline": "runyard.pipeline",
    "Run": "runyard.task",
    "Sweep": "runyard.sweep",
    "Task": "runyard.task",
}


def __getattr__(name: str) -> typing.Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'runyard' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "ApiError",
    "AuthError",
    "Client",
    "ConflictError",
    "InvalidError",
    "NotFoundError",
    "Pipeline",
    "ProtocolError",
    "RateLimitedError",
    "Run",
    "RunyardError",
    "ServerError",
    "ServerUnreachable",
    "StaleLeaseError",
    "Sweep",
    "Task",
    "TooLargeError",
    "__version__",
]
