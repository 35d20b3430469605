"""Running git for the agent, immune to the host's and the user's git configuration.

Every call gets a whitelisted environment (no ``GIT_DIR`` or ``GIT_*`` leaking in from
the agent's own environment), no system or global config, an empty ``HOME``, and
``-c`` overrides for every setting that changes how a checkout or a patch comes out.
"""

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from runyard_agent.errors import EnvironmentBuildError

GIT_TIMEOUT_S = 3600

_PASS_THROUGH = (
    "PATH",
    "TMPDIR",
    "SSH_AUTH_SOCK",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
)

_OVERRIDES = (
    "protocol.ext.allow=never",
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.autocrlf=false",
    "core.safecrlf=false",
    "core.quotePath=true",
    "diff.noprefix=false",
    "diff.mnemonicPrefix=false",
    "apply.whitespace=nowarn",
    "gc.auto=0",
    "advice.detachedHead=false",
    "init.defaultBranch=main",
)


class Git:
    """A git runner with a clean environment; ``home`` is an empty directory it may own."""

    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.env = {key: os.environ[key] for key in _PASS_THROUGH if key in os.environ}
        self.env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_TERMINAL_PROMPT="0",
            LC_ALL="C",
        )

    def run(
        self,
        args: Sequence[str],
        *,
        stage: str,
        cwd: Path | None = None,
        stdin: bytes | None = None,
    ) -> str:
        """Run ``git args``; return stdout, or raise EnvironmentBuildError with git's stderr."""
        result = self.try_run(args, stage=stage, cwd=cwd, stdin=stdin)
        if result.returncode != 0:
            stderr = result.stderr.decode(errors="replace").strip()
            raise EnvironmentBuildError(stage, f"git {args[0]} failed: {stderr}")
        return result.stdout.decode(errors="replace")

    def try_run(
        self,
        args: Sequence[str],
        *,
        stage: str,
        cwd: Path | None = None,
        stdin: bytes | None = None,
    ) -> "subprocess.CompletedProcess[bytes]":
        """Run ``git args`` and return the completed process whatever its exit status.

        Raises EnvironmentBuildError only when git is missing or runs past the timeout.
        """
        command = ["git", *(item for pair in _OVERRIDES for item in ("-c", pair)), *args]
        try:
            return subprocess.run(
                command,
                cwd=cwd,
                env=self.env,
                input=stdin,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                capture_output=True,
                timeout=GIT_TIMEOUT_S,
                check=False,
            )
        except FileNotFoundError as exc:
            raise EnvironmentBuildError(stage, "git is not installed on the agent") from exc
        except subprocess.TimeoutExpired as exc:
            raise EnvironmentBuildError(
                stage, f"git {args[0]} did not finish in {GIT_TIMEOUT_S} s"
            ) from exc
