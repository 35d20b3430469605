"""The artifact store in an S3 bucket: ``<prefix>artifacts/<task id>/<name>`` and the code
bundles under ``<prefix>artifacts/bundles/<sha256>.bundle`` (the layout of the data dir).

Every replica writes and reads the same bucket, so replicas need no shared volume.
"""

import hashlib
import tempfile
from collections.abc import AsyncIterator

import anyio.to_thread

from runyard_server.artifact_files import BUNDLES, too_large
from runyard_server.errors import TooLarge
from runyard_server.s3_objects import PART_BYTES, Bucket, ObjectStream

ARTIFACTS = "artifacts"


class S3Artifacts:
    """An ``ArtifactStore`` in a bucket; downloads stream and check the recorded sha256."""

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket

    def _key(self, *parts: str) -> str:
        return self.bucket.location.key(ARTIFACTS, *parts)

    async def save(
        self, task_id: str, name: str, chunks: AsyncIterator[bytes], max_bytes: int
    ) -> tuple[int, str]:
        key = self._key(task_id, name)
        return await self.bucket.upload(key, chunks, max_bytes, too_large(name, max_bytes))

    async def save_bundle(self, chunks: AsyncIterator[bytes], max_bytes: int) -> tuple[int, str]:
        # Its key is its sha256, known only at the end: it waits in a spool file (on disk
        # past a part's size) rather than in an object copied afterwards, as not every
        # S3-compatible server copies large objects.
        digest, size = hashlib.sha256(), 0
        with tempfile.SpooledTemporaryFile(max_size=PART_BYTES) as spool:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(too_large("code bundle", max_bytes))
                digest.update(chunk)
                spool.write(chunk)
            sha256 = digest.hexdigest()
            final = self._key(BUNDLES, f"{sha256}.bundle")

            def store() -> None:
                # The same commits uploaded twice are stored once.
                if not self.bucket.exists(final):
                    spool.seek(0)
                    self.bucket.put_file(final, spool)

            await anyio.to_thread.run_sync(store)
        return size, sha256

    async def open(self, task_id: str, name: str, sha256: str) -> ObjectStream | None:
        what = f"artifact {name!r} of task {task_id}"
        return await self.bucket.open(self._key(task_id, name), sha256, what)

    async def open_bundle(self, sha256: str) -> ObjectStream | None:
        key = self._key(BUNDLES, f"{sha256}.bundle")
        return await self.bucket.open(key, sha256, f"code bundle {sha256}")

    def delete_task(self, task_id: str) -> None:
        self.bucket.delete(list(self.bucket.keys(self._key(task_id, ""))))
