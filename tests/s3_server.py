"""Loopback S3 endpoints for the object storage tests, one of each kind per test session.

* moto's server mode (PyPI): the widest S3 API of the test servers (it lists multipart
  uploads, so a test can see an aborted one is gone); it keeps objects in memory.
* s3rver (npm, installed by ``npm ci``): keeps objects on disk, so it takes a 1 GiB
  upload in about 100 MB, where moto peaked at 4.3 GB and took twice as long.

No S3 server that runs in production installs from PyPI, Debian or npm. Each test gets
a bucket of its own. Server processes get the credentials through the standard AWS
environment variables, the chain boto3 reads, as an operator would set them.
"""

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import boto3
import requests
from mypy_boto3_s3 import S3Client

from runyard_server.embedded import free_port
from runyard_server.s3_location import S3Location
from runyard_server.s3_objects import Bucket
from tests.ci import unavailable

REPO = Path(__file__).resolve().parents[1]
S3RVER = REPO / "node_modules" / ".bin" / "s3rver"


class S3Server:
    """An S3 endpoint in a child process on a free loopback port."""

    def __init__(self, command: list[str], key: str, secret: str, log_path: Path) -> None:
        self.port = free_port()
        self.command = [part.replace("{port}", str(self.port)) for part in command]
        self.key, self.secret = key, secret
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The AWS variables a server process needs to reach this endpoint."""
        return {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            # Never ask an EC2 metadata endpoint for credentials on a test machine.
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def start(self, timeout_s: float = 30.0) -> "S3Server":
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command[0]} exited early:\n{self.log_path.read_text()}")
            try:
                requests.get(self.url, timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.command[0]} did not come up:\n{self.log_path.read_text()}")

    def __enter__(self) -> "S3Server":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    @cached_property
    def client(self) -> S3Client:
        """A client of this endpoint (one: a client costs about a second to make)."""
        session = boto3.session.Session(
            aws_access_key_id=self.key, aws_secret_access_key=self.secret, region_name="us-east-1"
        )
        return session.client("s3", endpoint_url=self.url)

    @contextmanager
    def bucket(self) -> Iterator[str]:
        """A new empty bucket, emptied and removed after."""
        name = f"runyard-test-{uuid.uuid4().hex[:12]}"
        s3 = self.client
        s3.create_bucket(Bucket=name)
        try:
            yield name
        finally:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
                for entry in page.get("Contents", []):
                    s3.delete_object(Bucket=name, Key=entry["Key"])
            s3.delete_bucket(Bucket=name)


def moto_server(folder: Path) -> S3Server:
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"]
    return S3Server(command, "testing", "testing", folder / "moto.log")


def s3rver(folder: Path) -> S3Server:
    if not S3RVER.is_file():
        reason = f"{S3RVER} is missing: run `npm ci` (make test does)"
        unavailable(reason)
    (folder / "s3rver").mkdir()
    command = [str(S3RVER), "-d", str(folder / "s3rver"), "-a", "127.0.0.1", "-p", "{port}"]
    # s3rver's fixed credentials: it checks request signatures against them.
    return S3Server(command, "S3RVER", "S3RVER", folder / "s3rver.log")


@contextmanager
def s3_bucket(server: S3Server, prefix: str = "runs") -> Iterator[Bucket]:
    """The server's store of a new bucket, as the runyard server opens it."""
    with server.bucket() as name:
        yield Bucket(server.client, S3Location.parse(f"s3://{name}/{prefix}"))
