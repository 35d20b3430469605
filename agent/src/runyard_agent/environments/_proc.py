"""Running a build tool quietly: its output is kept, and shown whole only when it fails."""

import os
import subprocess
from collections import deque
from collections.abc import Mapping
from pathlib import Path

from runyard_agent.errors import EnvironmentBuildError

MAX_ERROR_LINES = 400
"""How much of a failing tool's output an error carries (its last lines)."""


def run_tool(
    command: list[str],
    *,
    stage: str,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run ``command`` and return its output (stdout and stderr interleaved).

    ``env`` adds to the agent's own environment. Raises EnvironmentBuildError with
    ``what`` and the tool's output, up to its last ``MAX_ERROR_LINES`` lines, when it fails.
    """
    kept: deque[str] = deque(maxlen=MAX_ERROR_LINES)
    full_env = {**os.environ, **env} if env else None
    try:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd,
            text=True,
            errors="replace",
            # Ctrl-C at the agent's terminal drains the agent; it must not kill a build midway.
            start_new_session=True,
        )
    except OSError as exc:
        raise EnvironmentBuildError(stage, f"{what}: cannot run {command[0]}: {exc}") from exc
    with process:
        assert process.stdout is not None
        for line in process.stdout:
            kept.append(line.rstrip())
    output = "\n".join(kept)
    if process.returncode != 0:
        raise EnvironmentBuildError(stage, f"{what} (exit {process.returncode}):\n{output}")
    return output
