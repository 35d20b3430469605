"""A real Redis Sentinel set on loopback: 1 master, 2 replicas, 3 sentinels (Debian's
``redis-server`` and ``redis-sentinel``), with passwords on the servers and the sentinels.

Sentinels notice a dead master after ``down-after-milliseconds`` (1 s here) and
promote the replica that got furthest, so a ``kill -9`` fails over in a few seconds.
A killed server can be started again on its data dir, as a replica of the new master.
"""

import subprocess
import time
from pathlib import Path

import redis

from runyard_server.embedded import free_port

MASTER_NAME = "runyard"
PASSWORD = "redis-secret-1234"
SENTINEL_PASSWORD = "sentinel-secret-1234"


class SentinelSet:
    """Three redis-servers (the first the master) and three sentinels in ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = [free_port() for _ in range(3)]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.servers: dict[int, subprocess.Popen[bytes]] = {}
        self.sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def sentinel_spec(self) -> str:
        """``--redis-sentinel``'s value."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def start(self) -> "SentinelSet":
        for port in self.ports:
            self.start_server(port, replica_of=None if port == self.ports[0] else self.ports[0])
        self.wait_replicas(self.ports[0], 2)
        for port in self.sentinel_ports:
            self.sentinels.append(self._sentinel(port))
        self.wait_master()
        return self

    def start_server(self, port: int, replica_of: int | None = None) -> None:
        """Start (or start again, on its data) the redis-server on ``port``, a replica of
        ``replica_of`` when given (as an operator restarts a lost master: asking the
        sentinels for the master first, instead of waiting for them to demote it)."""
        folder = self.root / f"redis-{port}"
        folder.mkdir(parents=True, exist_ok=True)
        conf = folder / "redis.conf"
        if not conf.exists():  # a restart keeps what the sentinels rewrote into it
            lines = [
                f"port {port}", "bind 127.0.0.1", f"dir {folder}", "save ''",
                "appendonly yes", "appendfsync everysec",
                f"requirepass {PASSWORD}", f"masterauth {PASSWORD}",
                "repl-diskless-sync-delay 0",
            ]  # fmt: skip
            conf.write_text("\n".join(lines) + "\n")
        replica = [] if replica_of is None else ["--replicaof", "127.0.0.1", str(replica_of)]
        log = (folder / "redis.log").open("ab")
        self.servers[port] = subprocess.Popen(
            ["redis-server", str(conf), *replica], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                self.client(port).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _sentinel(self, port: int) -> subprocess.Popen[bytes]:
        folder = self.root / f"sentinel-{port}"
        folder.mkdir(parents=True)
        conf = folder / "sentinel.conf"
        conf.write_text(
            "\n".join([
                f"port {port}", "bind 127.0.0.1", f"dir {folder}",
                f"requirepass {SENTINEL_PASSWORD}",
                f"sentinel sentinel-pass {SENTINEL_PASSWORD}",
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.ports[0]} 2",
                f"sentinel auth-pass {MASTER_NAME} {PASSWORD}",
                f"sentinel down-after-milliseconds {MASTER_NAME} 1000",
                f"sentinel failover-timeout {MASTER_NAME} 5000",
                f"sentinel parallel-syncs {MASTER_NAME} 2",
            ]) + "\n"
        )  # fmt: skip
        log = (folder / "sentinel.log").open("ab")
        return subprocess.Popen(["redis-sentinel", str(conf)], stdout=log, stderr=subprocess.STDOUT)

    def client(self, port: int) -> "redis.Redis[str]":
        return redis.Redis(port=port, password=PASSWORD, decode_responses=True, socket_timeout=2)

    def master_port(self) -> int | None:
        """The master's port as a majority of sentinels see it (None while they disagree)."""
        seen = []
        for port in self.sentinel_ports:
            try:
                sentinel = redis.Redis(port=port, password=SENTINEL_PASSWORD, socket_timeout=1)
                seen.append(int(sentinel.sentinel_get_master_addr_by_name(MASTER_NAME)[1]))
            except (redis.RedisError, TypeError):
                continue
        best = max(set(seen), key=seen.count, default=None)
        return best if best is not None and seen.count(best) >= 2 else None

    def wait_master(self, other_than: int | None = None, timeout: float = 60) -> int:
        """The master's port once the sentinels agree on one (not ``other_than``) and it
        answers as a master."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self.master_port()
            if port is not None and (other_than is None or port != other_than):
                try:
                    if self.client(port).info("replication")["role"] == "master":
                        return port
                except redis.RedisError:
                    pass
            time.sleep(0.05)
        raise TimeoutError(f"no master other than {other_than} after {timeout}s")

    def wait_replicas(self, master: int, count: int, timeout: float = 60) -> None:
        """Until ``master`` has ``count`` replicas online."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.client(master).info("replication")
            online = [k for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
            if sum(info[k].get("state") == "online" for k in online) >= count:
                return
            time.sleep(0.1)
        raise TimeoutError(f"master {master} has not {count} replicas after {timeout}s")

    def kill(self, port: int) -> None:
        """``kill -9`` the redis-server on ``port``."""
        process = self.servers.pop(port)
        process.kill()
        process.wait()

    def force_failover(self) -> None:
        """``SENTINEL FAILOVER``: promote a replica while the master still runs (an
        operator's switchover)."""
        sentinel = redis.Redis(port=self.sentinel_ports[0], password=SENTINEL_PASSWORD)
        sentinel.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
        sentinel.close()

    def stop(self) -> None:
        for process in [*self.sentinels, *self.servers.values()]:
            if process.poll() is None:
                process.kill()
                process.wait()
