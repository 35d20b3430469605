"""Running a build tool with its output streamed to the task's log."""

import subprocess
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path

from runyard_agent.errors import EnvironmentBuildError

TAIL_LINES = 40


def run_streamed(
    command: list[str],
    *,
    stage: str,
    what: str,
    log: Callable[[str], None],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> None:
    """Run ``command``, logging each output line; raise EnvironmentBuildError on failure.

    The error message is ``what`` plus the last lines the tool wrote (stdout and stderr
    interleaved, as a user would have seen them).
    """
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise EnvironmentBuildError(stage, f"{what}: cannot run {command[0]}: {exc}") from exc
    with process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            tail.append(line)
            log(line)
    if process.returncode != 0:
        output = "\n".join(tail)
        raise EnvironmentBuildError(stage, f"{what} (exit {process.returncode}):\n{output}")
