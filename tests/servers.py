"""Real ``runyard-server`` processes for integration and end-to-end tests."""

import os
import signal
import socket
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


REDIS_7 = "/usr/bin/redis-server"
"""Debian's redis-server 7.0 (the Makefile's system deps): it runs the cluster, and
unlike 6.2 it refuses a script that touches keys of another slot."""


class RedisClusterProcesses:
    """A Redis Cluster of ``masters`` redis-server 7.0 processes on loopback free ports,
    no replicas, joined by ``redis-cli --cluster create``; a password on every node."""

    def __init__(self, data_dir: Path, masters: int = 3) -> None:
        self.data_dir = data_dir
        self.ports = [_cluster_port() for _ in range(masters)]
        self.password = "cluster-test-password"
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """The first node's address: a cluster client finds the others from it."""
        return f"redis://:{self.password}@127.0.0.1:{self.ports[0]}/0"

    def start(self, timeout_s: float = 30.0) -> "RedisClusterProcesses":
        for port in self.ports:
            node_dir = self.data_dir / str(port)
            node_dir.mkdir(parents=True)
            config = node_dir / "redis.conf"
            config.write_text(f"requirepass {self.password}\nmasterauth {self.password}\n")
            command = [
                REDIS_7, str(config),
                "--bind", "127.0.0.1", "--port", str(port), "--dir", str(node_dir),
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--appendonly", "no", "--save", "", "--daemonize", "no",
                "--logfile", str(node_dir / "redis.log"),
            ]  # fmt: skip
            self.processes.append(subprocess.Popen(command, stdin=subprocess.DEVNULL))
        self._wait(lambda port: _redis_cli(port, self.password, "ping") == "PONG", timeout_s)
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            ["redis-cli", "-a", self.password, "--no-auth-warning", "--cluster", "create",
             *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=timeout_s,
        )  # fmt: skip
        self._wait(
            lambda port: "cluster_state:ok" in _redis_cli(port, self.password, "cluster", "info"),
            timeout_s,
        )
        return self

    def _wait(self, ready: Callable[[int], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for port in self.ports:
            while not ready(port):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"Redis Cluster node {port} did not come up")
                time.sleep(0.05)

    def flush(self) -> None:
        """Empty every node (FLUSHALL goes to one node only)."""
        for port in self.ports:
            _redis_cli(port, self.password, "flushall")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []


def _cluster_port() -> int:
    """A free port whose cluster bus port (it plus 10000) is a port too, and free."""
    while True:
        port = free_port()
        if port + 10000 <= 65535 and _is_free(port + 10000):
            return port


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _redis_cli(port: int, password: str, *command: str) -> str:
    done = subprocess.run(
        ["redis-cli", "-p", str(port), "-a", password, "--no-auth-warning", *command],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return done.stdout.strip()
