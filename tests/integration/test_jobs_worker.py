"""The jobs process beside the API: one Redis client for its life, gone with its server."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import redis

from runyard_server.embedded import EmbeddedRedis, free_port

JOBS = [sys.executable, "-m", "runyard_server.jobs"]


def test_jobs_process_stops_once_the_process_that_started_it_is_gone(tmp_path: Path) -> None:
    pid_file = tmp_path / "jobs.pid"
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    # A parent that starts the jobs process on a dead Redis, waits for its first failed
    # tick (it is running), then dies as a killed server would (without PDEATHSIG, so
    # only the orphan check can stop it).
    parent = (
        "import pathlib, subprocess, sys; "
        f"p = subprocess.Popen({[*JOBS, '--redis-url', dead_redis]!r}, stderr=subprocess.PIPE); "
        f"pathlib.Path({str(pid_file)!r}).write_text(str(p.pid)); "
        "any(b'lease reaper' in line for line in p.stderr)"
    )
    subprocess.run([sys.executable, "-c", parent], check=True)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid), "the orphaned jobs process is still running"


def _alive(pid: int) -> bool:
    # A zombie (exited, not reaped by its new parent yet) counts as gone.
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_reaper_keeps_one_connection_across_its_ticks(redis_session: EmbeddedRedis) -> None:
    r = redis.Redis.from_url(redis_session.url)
    jobs = subprocess.Popen([*JOBS, "--redis-url", redis_session.url, "--reap-interval", "1"])
    try:
        deadline = time.monotonic() + 30
        # This test's, the reaper's and the event consumers' (which open theirs as they
        # start: their first sweep runs beside the blocking read); then none may come.
        while int(r.info("clients")["connected_clients"]) < 3:
            assert time.monotonic() < deadline, "the jobs process never connected"
            time.sleep(0.1)
        before = _settled_connections(r, deadline)
        time.sleep(4)  # four ticks
        after = int(r.info("stats")["total_connections_received"])
        assert jobs.poll() is None
    finally:
        jobs.send_signal(signal.SIGTERM)
        code = jobs.wait(10)
        r.close()
    assert after - before == 0, f"{after - before} new connections in four ticks"
    assert code == 0


def _settled_connections(r: "redis.Redis[bytes]", deadline: float) -> int:
    """The count of connections Redis has received, once it held still for 1.5 s."""
    seen = int(r.info("stats")["total_connections_received"])
    while True:
        time.sleep(1.5)
        now = int(r.info("stats")["total_connections_received"])
        if now == seen:
            return now
        assert time.monotonic() < deadline, "the jobs process kept opening connections"
        seen = now
