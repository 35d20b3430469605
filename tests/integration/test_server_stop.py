"""A clean stop of ``runyard-server`` (issue 11): a SIGTERM to its process group, as
Ctrl-C in a terminal, systemd or a container runtime send it, stops the API, the
jobs process and the embedded Redis in that order, with no traceback.

Before, the signal reached the children as well: Redis exited first and the jobs
worker printed connection-refused tracebacks until it died.
"""

import os
import signal
import time
from pathlib import Path

import psutil
import redis

from runyard_server.store import keys
from tests.faults.support import embedded_redis_url
from tests.servers import ServerProcess


def wait_for_jobs_worker(server: ServerProcess) -> None:
    """Until the jobs process's event consumers made their group (so it is connected)."""
    deadline = time.monotonic() + 30
    with redis.Redis.from_url(embedded_redis_url(server)) as r:
        while not r.exists(keys.EVENTS) or not r.xinfo_groups(keys.EVENTS):
            assert time.monotonic() < deadline, "the jobs process never connected"
            time.sleep(0.1)


def test_sigterm_to_the_process_group_stops_everything_without_a_traceback(
    tmp_path: Path,
) -> None:
    log = tmp_path / "server.log"
    server = ServerProcess(tmp_path / "data", [], log)
    server.preexec_fn = os.setsid  # its own group, as a shell's job or a service has
    server.start()
    assert server.process is not None
    pid = server.process.pid
    try:
        wait_for_jobs_worker(server)
        children = psutil.Process(pid).children(recursive=True)
        assert len(children) >= 2, children  # embedded Redis and the jobs worker

        os.killpg(pid, signal.SIGTERM)
        code = server.process.wait(30)
    finally:
        server.kill()

    _, alive = psutil.wait_procs(children, timeout=10)
    assert code == 0, log.read_text()
    assert alive == []
    assert "Traceback" not in log.read_text()
    assert "Error" not in log.read_text()
