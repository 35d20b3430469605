"""Real ``runyard-server`` processes for integration and end-to-end tests."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

from runyard_server.embedded import free_port


class ServerProcess:
    """A ``runyard-server`` child on a free port; restartable on the same data dir."""

    def __init__(self, data_dir: Path, extra_args: list[str], log_path: Path) -> None:
        self.data_dir = data_dir
        self.extra_args = extra_args
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        # Run in the child before exec: a fault test sets resource limits here.
        self.preexec_fn: Callable[[], None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def start(self, timeout_s: float = 30.0) -> "ServerProcess":
        command = [
            sys.executable, "-m", "runyard_server",
            "--port", str(self.port),
            "--data-dir", str(self.data_dir),
            "--log-level", "warning",
            *self.extra_args,
        ]  # fmt: skip
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUNYARD_TOKENS": ""},
            preexec_fn=self.preexec_fn,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"runyard-server exited early:\n{self.log_path.read_text()}")
            try:
                if requests.get(f"{self.api}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"runyard-server did not come up:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        """SIGTERM, as an operator would; the server stops its Redis and jobs worker."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None
