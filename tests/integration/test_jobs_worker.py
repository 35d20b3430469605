"""The rq jobs worker beside the API: it must not outlive the server that started it."""

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from runyard_server.embedded import free_port


def test_reaper_stops_retrying_once_the_process_that_started_it_is_gone(tmp_path: Path) -> None:
    done = tmp_path / "returned"
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    worker = textwrap.dedent(
        f"""
        import pathlib, redis
        from runyard_server.jobs.reaper import keep_scheduling
        keep_scheduling(redis.Redis.from_url({dead_redis!r}), {dead_redis!r}, 1)
        pathlib.Path({str(done)!r}).write_text("yes")
        """
    )
    # A parent that starts the worker, lets it get going, then dies as a killed server would.
    parent = (
        "import subprocess, sys, time; "
        f"subprocess.Popen([sys.executable, '-c', {worker!r}]); time.sleep(3)"
    )
    subprocess.run([sys.executable, "-c", parent], check=True)
    deadline = time.monotonic() + 20
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert done.read_text() == "yes"
