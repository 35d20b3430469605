"""Artifact files on the server's disk: written whole or not at all.

A file is streamed to a temporary name in the task's folder, checked against the
size limit as it arrives, flushed to disk, then renamed into place, so a reader
never sees half a file and a failed upload leaves nothing behind.
"""

import errno
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from runyard_server.errors import StorageFull, TooLarge

_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""A full disk, a quota, or a file-size limit: the upload cannot fit, nothing is broken."""


BUNDLES = "bundles"
"""The folder of code bundles (``<sha256>.bundle``), beside the task folders (named by
32-digit ids, so the two never meet). Bundles outlive tasks: clones share them."""


class ArtifactFiles:
    """The folder ``root/<task id>/<name>`` of every task's artifacts, and the code
    bundles of unpushed commits under ``root/bundles/<sha256>.bundle``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, task_id: str, name: str) -> Path:
        """Where an artifact lives; ids and names are validated before they get here."""
        return self.root / task_id / name

    async def save(
        self, task_id: str, name: str, chunks: AsyncIterator[bytes], max_bytes: int
    ) -> tuple[int, str]:
        """Store the streamed body as ``name``; returns its size and sha256."""
        folder = self.root / task_id
        digest, size = hashlib.sha256(), 0
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".upload-", dir=folder)
        except OSError as error:
            if error.errno in _FULL:
                raise self._full(name, error) from error
            raise
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(
                            f"artifact {name!r} is over the {max_bytes}-byte limit: "
                            "store large files elsewhere and record their location as a param"
                        )
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, folder / name)
        except OSError as error:
            Path(temp).unlink(missing_ok=True)
            if error.errno in _FULL:
                raise self._full(name, error) from error
            raise
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return size, digest.hexdigest()

    async def save_bundle(self, chunks: AsyncIterator[bytes], max_bytes: int) -> tuple[int, str]:
        """Store a git bundle by its content; returns its size and sha256."""
        incoming = f".incoming-{uuid.uuid4().hex}"
        size, sha256 = await self.save(BUNDLES, incoming, chunks, max_bytes)
        os.replace(self.root / BUNDLES / incoming, self.bundle_path(sha256))
        return size, sha256

    def bundle_path(self, sha256: str) -> Path:
        """Where the bundle with this (validated) sha256 lives."""
        return self.root / BUNDLES / f"{sha256}.bundle"

    def _full(self, name: str, error: OSError) -> StorageFull:
        why = os.strerror(error.errno or errno.ENOSPC)
        return StorageFull(
            f"artifact {name!r} was not stored: the server's artifact storage is full ({why}): "
            "free space in the server's data dir, then retry"
        )

    def delete_task(self, task_id: str) -> None:
        """Remove every artifact file of a deleted task."""
        shutil.rmtree(self.root / task_id, ignore_errors=True)
