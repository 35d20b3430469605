"""The history store in an S3 bucket: the files of ``LocalHistory``, one object each.

``<prefix>history/<task id>/<generation>/logs.zst`` and ``…/metrics.zst`` hold what
``LocalHistory`` keeps in its folder; ``<prefix>history/<task id>/index.json`` names
the generation they belong to. An archive is all or nothing the S3 way: each write
uploads a fresh generation, then puts the index (one atomic PUT) that points to it,
then deletes the older generations. A writer killed before the index leaves a
generation no index names; the next write of the task removes it. Readers go by the
index, so they see the old archive or the new one, never a mix.

Page reads fetch one frame with a ranged GET and check its sha256 from the index.
"""

import tempfile
import uuid
from collections.abc import Iterable
from functools import lru_cache

from runyard_server.history_files import (
    ArchiveIndex,
    Frame,
    FramedHistory,
    decode_frame,
    decode_metrics,
    encode_metrics,
    write_logs,
)
from runyard_server.log_chunks import Chunk
from runyard_server.s3_objects import PART_BYTES, Bucket

HISTORY = "history"
INDEX = "index.json"


class S3ArchiveIndex(ArchiveIndex):
    generation: str
    """The folder of this archive's ``logs.zst`` and ``metrics.zst``."""


class S3History(FramedHistory):
    """A ``HistoryStore`` in a bucket; every replica and jobs process shares it."""

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket
        # Generations never change once indexed, so a cached frame is never stale.
        self._frame = lru_cache(maxsize=16)(self._read_frame)

    def _key(self, task_id: str, *parts: str) -> str:
        return self.bucket.location.key(HISTORY, task_id, *parts)

    def write(self, task_id: str, chunks: Iterable[Chunk], points: list[str]) -> ArchiveIndex:
        generation = uuid.uuid4().hex
        # On disk past a part's size: an archive of any length uploads in bounded memory.
        with tempfile.SpooledTemporaryFile(max_size=PART_BYTES) as logs:
            plain = write_logs(logs, chunks, len(points))
            logs.seek(0)
            self.bucket.put_file(self._key(task_id, generation, "logs.zst"), logs)
        metrics = encode_metrics(points, plain)
        self.bucket.put(self._key(task_id, generation, "metrics.zst"), metrics)
        index = S3ArchiveIndex(**plain.model_dump(), generation=generation)
        self.bucket.put(self._key(task_id, INDEX), index.model_dump_json().encode())
        self._remove(task_id, keep=generation)
        return plain

    def _remove(self, task_id: str, keep: str | None) -> None:
        """Delete the task's objects but the index and generation ``keep`` (all if None)."""
        folder = self._key(task_id, "")
        kept = () if keep is None else (self._key(task_id, INDEX), self._key(task_id, keep, ""))
        stale = [key for key in self.bucket.keys(folder) if not key.startswith(kept)]
        self.bucket.delete(stale)

    def index(self, task_id: str) -> S3ArchiveIndex | None:
        raw = self.bucket.get(self._key(task_id, INDEX))
        return None if raw is None else S3ArchiveIndex.model_validate_json(raw)

    def _read_frame(self, task_id: str, generation: str, frame_json: str) -> tuple[Chunk, ...]:
        frame = Frame.model_validate_json(frame_json)
        data = self.bucket.get(self._key(task_id, generation, "logs.zst"), frame.offset, frame.size)
        if data is None:
            return ()  # deleted since its index was read
        return decode_frame(data, frame, f"task {task_id}'s archived log")

    def _chunks_of(self, task_id: str, index: ArchiveIndex, number: int) -> tuple[Chunk, ...]:
        assert isinstance(index, S3ArchiveIndex)
        return self._frame(task_id, index.generation, index.frames[number].model_dump_json())

    def metric_points(self, task_id: str) -> list[str]:
        index = self.index(task_id)
        if index is None:
            return []
        data = self.bucket.get(self._key(task_id, index.generation, "metrics.zst"))
        if data is None:
            return []
        return decode_metrics(data, index, f"task {task_id}'s archived metrics")

    def delete(self, task_id: str) -> None:
        # The index first: from then on readers see no archive, never a half-deleted one.
        self.bucket.delete([self._key(task_id, INDEX)])
        self._remove(task_id, keep=None)

    def task_ids(self) -> list[str]:
        return self.bucket.folders(self.bucket.location.key(HISTORY, ""))
