"""Shipping commits no remote has: a git bundle on the server that agents fetch.

Without it a commit that was never pushed, or a repository with no remote at all
(recorded by its local path), can be rerun only by an agent on the same machine.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from runyard.capture.git import needs_bundle, write_bundle
from runyard.models import Script

if TYPE_CHECKING:
    from runyard.client import Client


def ship_unpushed(client: Client, script: Script, root: Path) -> tuple[Script, str | None]:
    """``script`` with ``bundle`` set when its commit is on no remote, and the one-line
    notice that says so (None when nothing was shipped).

    Raises GitError or OSError when the bundle cannot be written, and
    :class:`~runyard.errors.RunyardError` when the server does not take it.
    """
    commit = script.commit
    if commit is None or script.bundle is not None or not needs_bundle(root, commit):
        return script, None
    with tempfile.TemporaryDirectory(prefix="runyard-bundle-") as scratch:
        path = Path(scratch) / "code.bundle"
        write_bundle(root, path)
        ref = client.bundles.upload(path)
    where = "has no remote" if script.repository == str(root) else "is on no remote branch"
    notice = (
        f"commit {commit[:12]} {where}: its commits went to the server as a code bundle "
        f"({ref.size} bytes) that agents fetch"
    )
    return script.model_copy(update={"bundle": ref.sha256}), notice
