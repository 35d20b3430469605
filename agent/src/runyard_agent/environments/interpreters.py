"""Finding a Python interpreter on the agent's machine for a recorded ``major.minor[.micro]``."""

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from runyard_agent.errors import EnvironmentBuildError

PROBE_TIMEOUT_S = 30

_PROBE = "import json, sys; print(json.dumps([list(sys.version_info[:3]), sys.executable]))"


@dataclass(frozen=True)
class Interpreter:
    """A Python interpreter: where it is and its exact version."""

    executable: Path
    version: tuple[int, int, int]

    @property
    def version_text(self) -> str:
        """``"3.11.7"``."""
        return ".".join(map(str, self.version))

    def matches(self, request: str) -> bool:
        """Whether ``request`` (``"3"``, ``"3.11"``, ``"3.11.7"``) describes this version."""
        wanted = tuple(int(part) for part in request.split("."))
        return self.version[: len(wanted)] == wanted


def agent_interpreter() -> Interpreter:
    """The interpreter the agent itself runs on."""
    major, minor, micro = sys.version_info[:3]
    return Interpreter(Path(sys.executable), (major, minor, micro))


def find_interpreter(
    request: str | None, uv_bin: Path | None, log: Callable[[str], None]
) -> Interpreter:
    """An interpreter matching ``request``; the agent's own when ``request`` is None.

    Looks at the agent's interpreter, then every ``python3.X`` / ``python3`` on ``PATH``
    (a broken shim is skipped, not fatal), then ``uv python find`` when uv is there.
    Raises EnvironmentBuildError (stage ``install``) naming what was looked for.
    """
    own = agent_interpreter()
    if request is None or own.matches(request):
        return own
    for candidate in _candidates(request, uv_bin):
        found = _probe(candidate)
        if found is not None and found.matches(request):
            log(f"python {request}: using {found.executable} ({found.version_text})")
            return found
    names = ", ".join(_names(request))
    raise EnvironmentBuildError(
        "install",
        f"no Python {request} on this agent: looked for {names} on PATH"
        + (" and ran `uv python find`" if uv_bin else "")
        + f"; install Python {request} on the agent or record the task with another version",
    )


def _names(request: str) -> list[str]:
    parts = request.split(".")
    return (
        [f"python{parts[0]}.{parts[1]}", f"python{parts[0]}"]
        if len(parts) > 1
        else [f"python{parts[0]}"]
    )


def _candidates(request: str, uv_bin: Path | None) -> Iterator[Path]:
    for name in _names(request):
        for directory in os.get_exec_path():
            path = Path(directory) / name
            if path.is_file() and os.access(path, os.X_OK):
                yield path
    if uv_bin is not None:
        command = [str(uv_bin), "python", "find", "--no-project", "--no-python-downloads"]
        found = _quiet_run([*command, request])
        if found:
            yield Path(found)


def _probe(executable: Path) -> Interpreter | None:
    output = _quiet_run([str(executable), "-I", "-c", _PROBE])
    if not output:
        return None
    try:
        (major, minor, micro), real = json.loads(output)
        return Interpreter(Path(real), (int(major), int(minor), int(micro)))
    except (ValueError, TypeError):
        return None


def _quiet_run(command: list[str]) -> str:
    """Stdout of ``command`` stripped, or "" when it fails in any way (a probe, not a step)."""
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""
