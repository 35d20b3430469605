"""Helpers for fault tests: where a server's embedded Redis is, waiting for processes to go."""

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import redis

from tests.servers import ServerProcess

_EMBEDDED = re.compile(r"embedded Redis on 127\.0\.0\.1:(\d+) \(password in (\S+)\)")


def embedded_redis_url(server: ServerProcess) -> str:
    """The URL of the embedded Redis the server started last (it prints where at start)."""
    found = _EMBEDDED.findall(server.log_path.read_text())
    assert found, f"no embedded Redis in {server.log_path}"
    port, password_file = found[-1]
    password = Path(password_file).read_text().strip()
    return f"redis://:{password}@127.0.0.1:{port}/0"


@contextmanager
def sync_client(url: str) -> Iterator["redis.Redis[str]"]:
    """A plain redis-py client with decoded replies, closed after."""
    client: redis.Redis[str] = redis.Redis.from_url(url, decode_responses=True)
    try:
        yield client
    finally:
        client.close()


def children_of(server: ServerProcess) -> list[psutil.Process]:
    """The server's child processes (embedded Redis, jobs worker)."""
    assert server.process is not None
    return list(psutil.Process(server.process.pid).children())


def wait_gone(processes: list[psutil.Process], timeout: float = 20.0) -> None:
    """Wait until every process has exited (a child dying after its parent, via PDEATHSIG)."""
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    assert not alive, f"still running {timeout}s after the server died: {alive}"


def git_repo(path: Path, files: dict[str, str]) -> str:
    """A git repository at ``path`` with ``files`` committed; the commit id."""
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).write_text(text)
    git = ["git", "-C", str(path), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "scripts"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    return head.stdout.strip()
