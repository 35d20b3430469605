"""Exceptions raised by the Runyard agent.

Every exception the agent raises on purpose derives from :class:`AgentError`::

    AgentError
     ├── ConfigError             the settings or the machine cannot run an agent
     ├── EnvironmentBuildError   the task's code or Python environment could not be built
     └── AgentStopped            the server refused the agent's token; the agent must stop

Failures of the HTTP client are :mod:`runyard.errors` classes; the agent turns a
401/403 into :class:`AgentStopped` in one place (``worker.py``).
"""

from __future__ import annotations

EXIT_CONFIG = 2
"""The agent's exit code when its settings (or the machine) cannot run it."""


class AgentError(Exception):
    """Root of every exception the Runyard agent raises on purpose."""


class ConfigError(AgentError):
    """Raised when the agent's settings are invalid or name resources the machine lacks."""


class EnvironmentBuildError(AgentError):
    """Raised when a task's code or environment cannot be built.

    ``stage`` names the step that failed (``clone``, ``checkout``, ``diff``, ``venv``,
    ``install``) and ``message`` carries the tool's own error output, so the task's
    ``failure_reason`` tells the user what to fix.
    """

    def __init__(self, stage: str, message: str) -> None:
        self.stage = stage
        self.message = message
        super().__init__(f"{stage}: {message}")


class AgentStopped(AgentError):
    """Raised when the server refuses the agent's token (401/403): the agent cannot go on."""
