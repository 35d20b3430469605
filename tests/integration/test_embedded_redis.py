"""The embedded Redis needs its password: task code on the same machine cannot reach it."""

import stat
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import redis

from runyard_server.embedded import EmbeddedRedis
from runyard_server.store import keys
from tests.servers import ServerProcess

LISTEN = psutil.CONN_LISTEN


def listens_on(process: psutil.Process, port: int) -> bool:
    try:
        return any(c.laddr.port == port and c.status == LISTEN for c in process.net_connections())
    except psutil.Error:
        return False


def test_a_client_without_the_password_is_refused(
    redis_factory: Callable[..., EmbeddedRedis],
) -> None:
    server = redis_factory()
    anonymous = redis.Redis(host="127.0.0.1", port=server.port)
    with pytest.raises(redis.AuthenticationError):
        anonymous.set("ry:task:x", "rewritten")
    wrong = redis.Redis(host="127.0.0.1", port=server.port, password="guess-me")
    with pytest.raises(redis.AuthenticationError):
        wrong.ping()
    with redis.Redis.from_url(server.url) as owner:
        assert owner.set("ry:k", "v")


def test_the_password_is_private_kept_and_off_the_command_line(
    redis_factory: Callable[..., EmbeddedRedis], tmp_path: Path
) -> None:
    data = tmp_path / "kept"
    first = redis_factory(data)
    with redis.Redis.from_url(first.url) as client:
        client.set("ry:k", "v")
    password = first.password
    assert stat.S_IMODE((data / "password").stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "redis.conf").stat().st_mode) == 0o600
    [process] = [p for p in psutil.process_iter() if listens_on(p, first.port)]
    assert password not in " ".join(process.cmdline())
    first.stop()
    again = redis_factory(data)
    assert again.password == password
    with redis.Redis.from_url(again.url) as client:
        assert client.get("ry:k") == b"v"


def test_the_servers_own_processes_get_the_password_but_not_in_argv(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", [], tmp_path / "server.log").start()
    try:
        assert server.process is not None
        parent = psutil.Process(server.process.pid)
        password = (tmp_path / "data" / "redis" / "password").read_text().strip()
        deadline = time.monotonic() + 10
        while len(parent.children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        processes = [parent, *parent.children()]  # the API, redis-server, the jobs worker
        assert len(processes) == 3
        assert [p.pid for p in processes if password in " ".join(p.cmdline())] == []
        [redis_server] = [p for p in processes if "redis-server" in p.cmdline()[0]]
        [port] = [c.laddr.port for c in redis_server.net_connections() if c.status == LISTEN]
        # The jobs worker reached Redis with it: its event consumers made their group there.
        with redis.Redis.from_url(f"redis://:{password}@127.0.0.1:{port}/0") as client:
            while not client.exists(keys.EVENTS) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert client.xinfo_groups(keys.EVENTS)
    finally:
        server.stop()
    assert password not in (tmp_path / "server.log").read_text()
