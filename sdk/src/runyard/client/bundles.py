"""``client.bundles``: git bundles of commits no remote has (``/bundles``)."""

from __future__ import annotations

from pathlib import Path

from runyard.client._download import download_checked
from runyard.client._http import Retry, Transport, seg
from runyard.models import BundleRef


class Bundles:
    """Upload a bundle the agents fetch a task's code from, and fetch one."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def upload(self, path: Path) -> BundleRef:
        """Store the bundle file at ``path``; the same content always gets the same ref,
        so a retried upload is safe."""
        return self._http.call(
            BundleRef,
            "POST",
            "/bundles",
            content=lambda: path.open("rb"),
            read_timeout=max(self._http.timeout, 60.0),
            retry=Retry.ALWAYS,
        )

    def download(self, sha256: str, dest: Path) -> Path:
        """Save the bundle ``sha256`` as ``dest``, whole and checked."""
        return download_checked(
            self._http, f"/bundles/{seg(sha256)}", dest, f"code bundle {sha256}"
        )
