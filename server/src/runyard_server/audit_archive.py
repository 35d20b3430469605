"""The audit archive: audit entries past their live window, out of Redis.

It sits beside the history store, through the same seam (``storage.py`` picks the data
dir or the ``--storage`` bucket): ``LocalAuditArchive`` keeps files under
``data_dir/audit/``, ``S3AuditArchive`` objects under ``<prefix>audit/``. Each segment
is one zstd frame of JSON lines named ``<first id>_<last id>.jsonl.zst``, so a reader
picks the segments of a time range from their names alone. A segment is written whole
(a temporary file renamed into place; one PUT), and segments may overlap when a
writer was killed between writing and trimming the stream: readers drop repeated ids.
"""

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import zstandard

from runyard.models import AuditEntry

if TYPE_CHECKING:  # boto3 is an extra: only a bucket-backed server imports it
    from runyard_server.s3_objects import Bucket

_SUFFIX = ".jsonl.zst"
AUDIT = "audit"


def _ms(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


class AuditArchive(Protocol):
    def write(self, entries: list[AuditEntry]) -> str:
        """Store ``entries`` (oldest first, not empty) as one segment; returns its name."""
        ...

    def names(self) -> list[str]:
        """Every segment's name."""
        ...

    def read(self, name: str) -> list[AuditEntry]:
        """The entries of segment ``name``, oldest first."""
        ...


def segment_name(entries: list[AuditEntry]) -> str:
    return f"{entries[0].id}_{entries[-1].id}{_SUFFIX}"


def encode(entries: Iterable[AuditEntry]) -> bytes:
    plain = b"".join(entry.model_dump_json().encode() + b"\n" for entry in entries)
    return zstandard.ZstdCompressor(level=6).compress(plain)


def decode(data: bytes) -> list[AuditEntry]:
    plain = zstandard.ZstdDecompressor().decompress(data)
    return [AuditEntry.model_validate_json(line) for line in plain.splitlines() if line]


def overlapping(names: list[str], since_ms: int, before_ms: int) -> list[str]:
    """The segments holding entries in [since_ms, before_ms), newest first."""
    chosen = []
    for name in names:
        first, _, last = name.removesuffix(_SUFFIX).partition("_")
        if _ms(last) >= since_ms and _ms(first) < before_ms:
            chosen.append(name)
    return sorted(chosen, key=lambda n: _ms(n.partition("_")[0]), reverse=True)


class LocalAuditArchive:
    """Segments as files in ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, entries: list[AuditEntry]) -> str:
        name = segment_name(entries)
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".", delete=False) as out:
            out.write(encode(entries))
            out.flush()
            os.fsync(out.fileno())
        os.replace(out.name, self.root / name)
        return name

    def names(self) -> list[str]:
        if not self.root.exists():
            return []
        return [p.name for p in self.root.iterdir() if p.name.endswith(_SUFFIX)]

    def read(self, name: str) -> list[AuditEntry]:
        return decode((self.root / name).read_bytes())


class S3AuditArchive:
    """Segments as objects under ``<prefix>audit/``."""

    def __init__(self, bucket: "Bucket") -> None:
        self.bucket = bucket

    def write(self, entries: list[AuditEntry]) -> str:
        name = segment_name(entries)
        self.bucket.put(self.bucket.location.key(AUDIT, name), encode(entries))
        return name

    def names(self) -> list[str]:
        folder = self.bucket.location.key(AUDIT, "")
        return [key.removeprefix(folder) for key in self.bucket.keys(folder)]

    def read(self, name: str) -> list[AuditEntry]:
        data = self.bucket.get(self.bucket.location.key(AUDIT, name))
        return [] if data is None else decode(data)
