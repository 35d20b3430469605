"""Where the script started: its file and working directory, whatever moved the cwd since.

Hydra (without ``version_base``, or with ``hydra.job.chdir=True``) changes into
``outputs/DATE/TIME`` before the decorated main runs, so ``Task.init`` inside main
sees another cwd than the user's, and a relative ``sys.argv[0]`` no longer names the
script. The cwd is read when ``runyard`` is imported (usually at the top of the
script, before Hydra's main); when Hydra runs, the cwd it started in
(``hydra.runtime.cwd``) wins, since ``runyard`` may have been imported late.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _cwd_now() -> Path | None:
    try:
        return Path(os.getcwd())
    except OSError:  # the folder was deleted under the process
        return None


_at_start: Path | None = None


def remember_start_cwd() -> None:
    """Keep the cwd of now as the one the script started in (first call only)."""
    global _at_start
    if _at_start is None:
        _at_start = _cwd_now()


def original_cwd() -> Path:
    """The working directory the script was started in."""
    return _hydra_start_cwd() or _at_start or _cwd_now() or Path("/")


def script_path() -> Path | None:
    """The running script's file, absolute; None when started interactively or with -c."""
    argv0 = sys.argv[0] if sys.argv else ""
    if not argv0 or argv0 == "-c":
        return None
    path = Path(argv0)
    if not path.is_absolute():
        path = original_cwd() / path
    return path.resolve() if path.is_file() else None


def _hydra_start_cwd() -> Path | None:
    if "hydra" not in sys.modules:  # never import Hydra for a script that does not use it
        return None
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return Path(HydraConfig.get().runtime.cwd)
