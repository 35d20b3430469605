"""Objects in an S3-compatible bucket: the one module that speaks S3 (through boto3).

Credentials come from boto3's default chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE`` and the config files, web identity on Kubernetes, instance roles), so
none of them is a Runyard setting.

Uploads stream: a request body goes up as a multipart upload, a part at a time, one
part in flight while the next fills, in two buffers used in turn, so an upload of any
size holds two parts in memory (10 MiB for the first 4.9 GiB). S3 shows an object
only once its upload completes, and a failed upload is aborted, so a reader never
sees half an object. The sha256 is computed as the bytes arrive and handed back to
the caller, who keeps it (the artifact record, the bundle's key, the archive index);
a read checks it as it streams and never sends the last bytes of an object that does
not match.

boto3 clients are thread-safe and blocking: the async paths run each call in a worker
thread, the history store (already on threads) calls them directly.
"""

import asyncio
import hashlib
import io
import logging
import mimetypes
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import IO, TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
import boto3
import botocore.session
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from starlette.responses import StreamingResponse

from runyard_server.errors import Damaged, StoreUnavailable, TooLarge
from runyard_server.s3_location import S3Location

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

log = logging.getLogger("runyard_server.s3")

PART_BYTES = 5 * 1024 * 1024
"""The first parts' size, S3's least: a part's buffer is the most an upload holds twice."""
PARTS_PER_SIZE = 1000
"""Parts 1-1000 are ``PART_BYTES``, 1001-2000 twice that, and so on: S3's 10,000 parts
then hold 268 GiB (past ``MAX_ARTIFACT_BYTES``), and only uploads over 4.9 GiB hold more
than 10 MiB."""
READ_BYTES = 1024 * 1024
"""A download reads and sends this much at a time."""
_DELETE_BATCH = 1000
"""DeleteObjects takes at most 1000 keys."""
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})

T = TypeVar("T")


@cache
def make_client(endpoint_url: str | None) -> "S3Client":
    """An S3 client from the default credential chain; ``endpoint_url`` for non-AWS servers.

    One per process and endpoint: a client holds S3's parsed API model (about 5 MB)."""
    options: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": 5},
        "max_pool_connections": 64,
        "connect_timeout": 5,
        "read_timeout": 60,
    }
    if endpoint_url:
        # MinIO, Ceph and friends answer on one host name (no bucket subdomains), and
        # not all of them know the CRC checksums boto3 now adds to every upload.
        options["s3"] = {"addressing_style": "path"}
        options["request_checksum_calculation"] = "when_required"
        options["response_checksum_validation"] = "when_required"
    core = botocore.session.Session()
    _lighten(core)
    session = boto3.session.Session(botocore_session=core)
    return session.client("s3", endpoint_url=endpoint_url, config=Config(**options))


_OUR_SERVICES = frozenset({"s3", "sts", "sso", "sso-oidc"})
"""S3, and the services of the credential chain's role, web-identity and SSO steps."""


def _lighten(session: botocore.session.Session) -> None:
    """Load the two big tables an S3 client is built from, and cut what it never reads.

    botocore's loader caches what it loads, so the client is built from these copies:
    * the endpoint table (endpoints.json) lists every AWS service in every region, 6.7 MB
      of Python objects; its resolver only ever looks up the services named above;
    * half of S3's API model is documentation, only read to write docstrings.
    Together 5 MB less, a quarter of what a server process grows by with S3 storage."""
    loader = session.get_component("data_loader")
    endpoints, _ = loader.load_data_with_path("endpoints")
    for partition in endpoints.get("partitions", []):
        services = partition.get("services", {})
        partition["services"] = {k: v for k, v in services.items() if k in _OUR_SERVICES}
    # The arguments exactly as the client passes them: they are the cache's key.
    _drop_documentation(loader.load_service_model("s3", "service-2", api_version=None))


def _drop_documentation(model: object) -> None:
    if isinstance(model, dict):
        if "documentation" in model:
            model["documentation"] = ""  # emptied, not removed: some readers want the key
        for value in model.values():
            _drop_documentation(value)
    elif isinstance(model, list):
        for value in model:
            _drop_documentation(value)


def _is_missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code", "") in _MISSING


@contextmanager
def _reachable(location: S3Location, doing: str) -> Iterator[None]:
    """S3 failures as ``StoreUnavailable``, naming the bucket and what was being done."""
    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "?")
        raise StoreUnavailable(
            f"object store {location} refused to {doing} ({code}): check the bucket, "
            "the endpoint and the server's AWS credentials"
        ) from error
    except BotoCoreError as error:
        raise StoreUnavailable(
            f"object store {location} could not {doing} ({error}): retry later"
        ) from error


class Bucket:
    """The keys under one ``s3://bucket/prefix``; keys given to methods are full keys
    (``location.key(...)``)."""

    def __init__(self, client: "S3Client", location: S3Location) -> None:
        self.client, self.location = client, location
        self.transfer = TransferConfig(
            multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, max_concurrency=2
        )

    def check(self) -> None:
        """Raise ``StoreUnavailable`` unless the bucket answers to these credentials."""
        with _reachable(self.location, "open the bucket"):
            self.client.head_bucket(Bucket=self.location.bucket)

    async def upload(
        self, key: str, chunks: AsyncIterator[bytes], max_bytes: int, too_large: str
    ) -> tuple[int, str]:
        """Stream ``chunks`` to ``key``, all or nothing; returns the size and sha256.

        Raises ``TooLarge(too_large)`` past ``max_bytes`` (nothing is stored)."""
        digest, size = hashlib.sha256(), 0
        part, spare = _Part(PART_BYTES), _Part(0)
        multipart = _Multipart(self, key)
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(too_large)
                digest.update(chunk)
                rest = memoryview(chunk)
                while rest:
                    rest = part.fill(rest)
                    if part.full:
                        await multipart.send(part)  # returns once ``spare`` is sent
                        part, spare = spare.reuse(part_bytes(multipart.next_number)), part
            if multipart.started:
                if part.size:
                    await multipart.send(part)
                await multipart.complete()
            else:
                await self._run(self.put, key, bytes(part.view()))
        except BaseException:
            with anyio.CancelScope(shield=True):
                await multipart.abort()
            raise
        finally:
            part.release()
            spare.release()
        return size, digest.hexdigest()

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(call, *args)

    def put(self, key: str, data: bytes) -> None:
        with _reachable(self.location, f"store {key}"):
            self.client.put_object(Bucket=self.location.bucket, Key=key, Body=data)

    def put_file(self, key: str, source: IO[bytes]) -> None:
        """Upload a file object (multipart when large, a part at a time from it)."""
        with _reachable(self.location, f"store {key}"):
            self.client.upload_fileobj(source, self.location.bucket, key, Config=self.transfer)

    def get(self, key: str, offset: int = 0, size: int | None = None) -> bytes | None:
        """The object's bytes (``size`` of them from ``offset`` when given), None if absent."""
        extra: dict[str, Any] = {}
        if size is not None:
            extra["Range"] = f"bytes={offset}-{offset + size - 1}"
        with _reachable(self.location, f"read {key}"):
            try:
                reply = self.client.get_object(Bucket=self.location.bucket, Key=key, **extra)
            except ClientError as error:
                if _is_missing(error):
                    return None
                raise
            with reply["Body"] as body:
                return body.read()

    async def open(self, key: str, sha256: str, what: str) -> "ObjectStream | None":
        """The object as a verified stream, or None if absent."""

        def get() -> "ObjectStream | None":
            with _reachable(self.location, f"read {key}"):
                try:
                    reply = self.client.get_object(Bucket=self.location.bucket, Key=key)
                except ClientError as error:
                    if _is_missing(error):
                        return None
                    raise
            return ObjectStream(reply["Body"], reply["ContentLength"], sha256, what)

        return await self._run(get)

    def exists(self, key: str) -> bool:
        with _reachable(self.location, f"look up {key}"):
            try:
                self.client.head_object(Bucket=self.location.bucket, Key=key)
            except ClientError as error:
                if _is_missing(error):
                    return False
                raise
        return True

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key that starts with ``prefix``."""
        pages = self.client.get_paginator("list_objects_v2")
        with _reachable(self.location, f"list {prefix}"):
            for page in pages.paginate(Bucket=self.location.bucket, Prefix=prefix):
                for entry in page.get("Contents", []):
                    yield entry["Key"]

    def folders(self, prefix: str) -> list[str]:
        """The names of the "folders" right under ``prefix`` (which ends in "/")."""
        pages = self.client.get_paginator("list_objects_v2")
        found = []
        with _reachable(self.location, f"list {prefix}"):
            for page in pages.paginate(Bucket=self.location.bucket, Prefix=prefix, Delimiter="/"):
                found += [
                    p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])
                ]
        return found

    def delete(self, keys: list[str]) -> None:
        """Delete these keys (absent ones are no error)."""
        with _reachable(self.location, "delete objects"):
            for start in range(0, len(keys), _DELETE_BATCH):
                batch = keys[start : start + _DELETE_BATCH]
                self.client.delete_objects(
                    Bucket=self.location.bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )


def part_bytes(number: int) -> int:
    """The size of part ``number`` (from 1) of a multipart upload."""
    return PART_BYTES * (1 + (number - 1) // PARTS_PER_SIZE)


class _Part:
    """One part's bytes in a buffer allocated once at its full size: growing one (or a
    BytesIO) by reallocation leaves glibc holding freed copies, tens of MB per upload."""

    def __init__(self, capacity: int) -> None:
        self.buffer = bytearray(capacity)
        self.size = 0

    def reuse(self, capacity: int) -> "_Part":
        """This buffer emptied for the next part (a new one only when the size grows).

        Reused, and released at the end, rather than dropped: the worker thread that sent
        a part keeps a reference to it until that thread's next job (anyio's loop
        variables), which would make a third buffer, and keep one past the upload."""
        if len(self.buffer) != capacity:
            self.buffer = bytearray(capacity)
        self.size = 0
        return self

    def release(self) -> None:
        self.reuse(0)

    @property
    def full(self) -> bool:
        return self.size == len(self.buffer)

    def fill(self, data: memoryview) -> memoryview:
        """Copy what fits of ``data`` in; returns the rest."""
        taken = min(len(data), len(self.buffer) - self.size)
        self.buffer[self.size : self.size + taken] = data[:taken]
        self.size += taken
        return data[taken:]

    def view(self) -> memoryview:
        return memoryview(self.buffer)[: self.size]


class _PartReader(io.RawIOBase):
    """A part as a seekable file for boto3 (which rewinds it to retry), without a copy."""

    def __init__(self, data: memoryview) -> None:
        self.data, self.position = data, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, target: "WriteableBuffer") -> int:
        out = memoryview(target).cast("B")
        count = min(len(out), len(self.data) - self.position)
        out[:count] = self.data[self.position : self.position + count]
        self.position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: len(self.data)}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position


class _Multipart:
    """One multipart upload, started by its first part, with at most one part in flight."""

    def __init__(self, bucket: Bucket, key: str) -> None:
        self.bucket, self.key = bucket, key
        self.upload_id: str | None = None
        self.parts: list[CompletedPartTypeDef] = []
        self.in_flight: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        return self.upload_id is not None

    @property
    def next_number(self) -> int:
        return len(self.parts) + 1

    async def send(self, data: "_Part") -> None:
        """Wait for the part in flight, then start sending ``data`` as the next."""
        await self._settle()
        if self.upload_id is None:
            self.upload_id = await self.bucket._run(self._create)
        number = self.next_number
        self.parts.append({"PartNumber": number, "ETag": ""})
        self.in_flight = asyncio.create_task(self.bucket._run(self._part, number, data))

    async def _settle(self) -> None:
        if self.in_flight is not None:
            task, self.in_flight = self.in_flight, None
            await task

    def _create(self) -> str:
        with _reachable(self.bucket.location, f"store {self.key}"):
            reply = self.bucket.client.create_multipart_upload(
                Bucket=self.bucket.location.bucket, Key=self.key
            )
        return reply["UploadId"]

    def _part(self, number: int, data: "_Part") -> None:
        assert self.upload_id is not None
        with _reachable(self.bucket.location, f"store {self.key}"):
            reply = self.bucket.client.upload_part(
                Bucket=self.bucket.location.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=io.BufferedReader(_PartReader(data.view())),
            )
        self.parts[number - 1] = {"PartNumber": number, "ETag": reply["ETag"]}

    async def complete(self) -> None:
        await self._settle()

        def complete() -> None:
            assert self.upload_id is not None
            with _reachable(self.bucket.location, f"store {self.key}"):
                self.bucket.client.complete_multipart_upload(
                    Bucket=self.bucket.location.bucket,
                    Key=self.key,
                    UploadId=self.upload_id,
                    MultipartUpload={"Parts": self.parts},
                )

        await self.bucket._run(complete)
        self.upload_id = None

    async def abort(self) -> None:
        """Drop the parts sent (S3 keeps them, billed, until aborted); never raises."""
        if self.in_flight is not None:
            self.in_flight.cancel()
            await asyncio.gather(self.in_flight, return_exceptions=True)
        if self.upload_id is None:
            return
        upload_id, self.upload_id = self.upload_id, None

        def abort() -> None:
            try:
                self.bucket.client.abort_multipart_upload(
                    Bucket=self.bucket.location.bucket, Key=self.key, UploadId=upload_id
                )
            except (BotoCoreError, ClientError) as error:
                # A lifecycle rule (AbortIncompleteMultipartUpload) is the backstop.
                log.warning("could not abort the upload of %s: %s", self.key, error)

        await self.bucket._run(abort)


class ObjectStream:
    """An object being read, as a response that checks its sha256 before the last bytes."""

    def __init__(self, body: Any, size: int, sha256: str, what: str) -> None:
        self.body, self.size, self.sha256, self.what = body, size, sha256, what

    def response(self, filename: str, headers: Mapping[str, str]) -> StreamingResponse:
        media_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return StreamingResponse(
            self._verified(),
            media_type=media_type,
            headers={
                **headers,
                "content-length": str(self.size),
                "content-disposition": f'attachment; filename="{filename}"',
            },
        )

    async def _verified(self) -> AsyncIterator[bytes]:
        """The bytes, each chunk sent once the next has been read, the last only once the
        whole object's sha256 matched: a damaged object arrives short, never complete."""
        digest, held = hashlib.sha256(), b""
        try:
            while chunk := await anyio.to_thread.run_sync(self.body.read, READ_BYTES):
                digest.update(chunk)
                if held:
                    yield held
                held = chunk
            if digest.hexdigest() != self.sha256:
                raise Damaged(
                    f"{self.what} is damaged in the object store: its sha256 is "
                    f"{digest.hexdigest()}, {self.sha256} was recorded"
                )
            if held:
                yield held
        finally:
            await anyio.to_thread.run_sync(self.body.close)
