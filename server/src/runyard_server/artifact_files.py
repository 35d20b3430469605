"""The artifact store: files tasks upload and code bundles, written whole or not at all.

``ArtifactStore`` is the seam (as ``HistoryStore`` is for history); ``ArtifactFiles``
keeps them on the server's disk, ``s3_artifacts.S3Artifacts`` in an S3 bucket.

On disk, a file is streamed to a temporary name in the task's folder, checked against
the size limit as it arrives, flushed to disk, then renamed into place, so a reader
never sees half a file and a failed upload leaves nothing behind.
"""

import errno
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Protocol

from starlette.responses import FileResponse, Response

from runyard_server.errors import StorageFull, TooLarge

_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""A full disk, a quota, or a file-size limit: the upload cannot fit, nothing is broken."""


BUNDLES = "bundles"
"""The folder of code bundles (``<sha256>.bundle``), beside the task folders (named by
32-digit ids, so the two never meet). Bundles outlive tasks: clones share them."""


class Download(Protocol):
    """A stored file, ready to be sent."""

    def response(self, filename: str, headers: Mapping[str, str]) -> Response:
        """The response that sends the file as ``filename`` with these extra headers."""
        ...


class ArtifactStore(Protocol):
    """Where artifacts and code bundles live. Ids, names and sha256s are validated
    before they get here; ``save`` and ``save_bundle`` store all or nothing."""

    async def save(
        self, task_id: str, name: str, chunks: AsyncIterator[bytes], max_bytes: int
    ) -> tuple[int, str]:
        """Store the streamed body as the task's artifact ``name``; returns size and sha256."""
        ...

    async def save_bundle(self, chunks: AsyncIterator[bytes], max_bytes: int) -> tuple[int, str]:
        """Store a git bundle by its content; returns its size and sha256."""
        ...

    async def open(self, task_id: str, name: str, sha256: str) -> Download | None:
        """The artifact (recorded with this sha256), or None when its file is gone."""
        ...

    async def open_bundle(self, sha256: str) -> Download | None:
        """The bundle with this sha256, or None."""
        ...

    def delete_task(self, task_id: str) -> None:
        """Remove every artifact of a deleted task (blocking: call it from a thread)."""
        ...


class LocalFile:
    """A file on the server's disk, sent with sendfile (and ranges) by Starlette."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def response(self, filename: str, headers: Mapping[str, str]) -> Response:
        return FileResponse(self.path, filename=filename, headers=dict(headers))


class ArtifactFiles:
    """The folder ``root/<task id>/<name>`` of every task's artifacts, and the code
    bundles of unpushed commits under ``root/bundles/<sha256>.bundle``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def open(self, task_id: str, name: str, sha256: str) -> LocalFile | None:
        path = self.root / task_id / name
        return LocalFile(path) if path.is_file() else None

    async def open_bundle(self, sha256: str) -> LocalFile | None:
        path = self.bundle_path(sha256)
        return LocalFile(path) if path.is_file() else None

    async def save(
        self, task_id: str, name: str, chunks: AsyncIterator[bytes], max_bytes: int
    ) -> tuple[int, str]:
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
                        raise TooLarge(too_large(name, max_bytes))
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
        shutil.rmtree(self.root / task_id, ignore_errors=True)


def too_large(name: str, max_bytes: int) -> str:
    return (
        f"artifact {name!r} is over the {max_bytes}-byte limit: "
        "store large files elsewhere and record their location as a param"
    )
