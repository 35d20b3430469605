"""Archiving a final task's output, with real servers: live followers, kills and a full disk.

A follower (server-sent events, ``runyard task logs -f``) that was reading from Redis
goes on from the archive with the same cursor: every line once, in order. A jobs
worker or server killed with SIGKILL while the archive is being written leaves the
Redis copy, and the restarted one finishes the archive. A history store that is full
leaves the output in Redis, readable, and the archiver retries until there is room.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import requests

from runyard_server.embedded import EmbeddedRedis
from runyard_server.history_files import LocalHistory
from runyard_server.store import keys
from tests.ci import unavailable
from tests.faults.consistency import archive_problems, problems
from tests.faults.support import children_of, embedded_redis_url, sync_client, wait_gone
from tests.faults.test_resource_full import _small_disk
from tests.servers import ServerProcess

RUNYARD = Path(sys.executable).with_name("runyard")


def _post_lines(api: str, task_id: str, first_seq: int, batches: int, per_batch: int) -> None:
    for seq in range(first_seq, first_seq + batches):
        texts = [f"line {seq * per_batch + i}" for i in range(per_batch)]
        batch = {"seq": seq, "lines": [{"text": t, "ts": time.time()} for t in texts]}
        response = requests.post(f"{api}/tasks/{task_id}/logs", json=batch, timeout=30)
        assert response.status_code == 200, response.text


def _new_task(api: str) -> str:
    return str(requests.post(f"{api}/tasks", json={"name": "archive"}, timeout=10).json()["id"])


def _end(api: str, task_id: str) -> None:
    response = requests.post(f"{api}/tasks/{task_id}/abort", timeout=10)
    assert response.status_code == 200 and response.json()["status"] == "aborted"


def _wait_for(
    what: str, check: Callable[[], bool], timeout: float = 60.0, poll_s: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(poll_s)


def _history_mark(redis_url: str, task_id: str) -> str | None:
    with sync_client(redis_url) as r:
        mark = r.hget(keys.task(task_id), "history")
        return None if mark is None else str(mark)


def _sse_lines(
    response: requests.Response, count: int | None
) -> tuple[list[str], str | None, bool]:
    """Texts of the lines of whole pages until ``count`` or more came (until ``end`` when
    None), the last event id, and whether ``end`` came."""
    texts: list[str] = []
    last_id = None
    fields: dict[str, str] = {}
    for raw in response.iter_lines(decode_unicode=True):
        if raw:
            name, _, value = raw.partition(":")
            fields[name] = value.removeprefix(" ")
            continue
        event, fields = fields, {}
        if event.get("event") == "end":
            return texts, last_id, True
        if "data" in event:
            texts.append(json.loads(event["data"])["text"])
        if "id" in event:
            last_id = event["id"]
            if count is not None and len(texts) >= count:
                return texts, last_id, False
    return texts, last_id, False


def _sse_to_end(api: str, task_id: str, response: requests.Response) -> list[str]:
    """Every line until ``end``, reconnecting with ``Last-Event-ID`` as EventSource does."""
    texts, last_id, ended = _sse_lines(response, None)
    while not ended:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        response = requests.get(
            f"{api}/tasks/{task_id}/logs/stream", headers=headers, stream=True, timeout=30
        )
        more, last_id, ended = _sse_lines(response, None)
        texts += more
    return texts


def test_followers_see_every_line_once_across_the_archive_step(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory("--event-retry", "1")
    api, redis_url = server.api, embedded_redis_url(server)
    task_id = _new_task(api)
    per_batch, half = 500, 10
    expected = [f"line {i}" for i in range(2 * half * per_batch)]
    _post_lines(api, task_id, 0, half, per_batch)

    # `runyard task logs -f` reads the first half from Redis, then is frozen mid-follow.
    env = {**os.environ, "RUNYARD_SERVER": server.url, "RUNYARD_TOKEN": ""}
    cli = subprocess.Popen(
        [str(RUNYARD), "task", "logs", task_id, "-f"], env=env, stdout=subprocess.PIPE, text=True
    )
    assert cli.stdout is not None
    cli_lines = [cli.stdout.readline().rstrip("\n") for _ in range(half * per_batch)]
    cli.send_signal(signal.SIGSTOP)
    # An SSE client reads the first half and disconnects, keeping its last event id.
    stream = requests.get(f"{api}/tasks/{task_id}/logs/stream", stream=True, timeout=30)
    sse_first, last_id, _ = _sse_lines(stream, half * per_batch)
    stream.close()
    # A third follower stays connected throughout.
    live = requests.get(f"{api}/tasks/{task_id}/logs/stream", stream=True, timeout=30)

    _post_lines(api, task_id, half, half, per_batch)
    _end(api, task_id)
    _wait_for("the task is archived", lambda: _history_mark(redis_url, task_id) == "archived")

    cli.send_signal(signal.SIGCONT)
    rest, _ = cli.communicate(timeout=60)
    assert cli.returncode == 0
    assert cli_lines + rest.splitlines() == expected
    assert last_id is not None
    resumed = requests.get(
        f"{api}/tasks/{task_id}/logs/stream",
        headers={"Last-Event-ID": last_id},
        stream=True,
        timeout=30,
    )
    assert sse_first + _sse_to_end(api, task_id, resumed) == expected
    assert _sse_to_end(api, task_id, live) == expected
    text = requests.get(f"{api}/tasks/{task_id}/logs/text", timeout=30).text
    assert text == "".join(f"{t}\n" for t in expected)
    with sync_client(redis_url) as r:
        assert problems(r) == []
        assert archive_problems(r, LocalHistory(server.data_dir / "history")) == []


def _jobs_worker(server: ServerProcess) -> psutil.Process:
    (worker,) = [p for p in children_of(server) if "runyard_server.jobs" in p.cmdline()]
    return worker


@pytest.mark.parametrize("victim", ["jobs worker", "server"])
def test_a_kill_during_archiving_leaves_redis_whole_and_a_restart_finishes(
    server_factory: Callable[..., ServerProcess], victim: str
) -> None:
    server = server_factory("--event-retry", "1")
    api = server.api
    history = LocalHistory(server.data_dir / "history")
    task_id = _new_task(api)
    # Enough output that writing its archive takes a while to catch (msgspec made it fast).
    batches, per_batch = 250, 2000
    _post_lines(api, task_id, 0, batches, per_batch)
    expected = "".join(f"line {i}\n" for i in range(batches * per_batch))
    doomed = _jobs_worker(server) if victim == "jobs worker" else None
    processes = children_of(server)

    _end(api, task_id)
    _wait_for(
        "the archive is being written",
        lambda: any(history.root.glob(f".tmp-{task_id}-*")),
        poll_s=0.001,
    )
    if doomed is not None:
        doomed.kill()  # a zombie until the server reaps it on stop
    else:
        server.kill()
        wait_gone(processes)
    caught = "mid-write" if any(history.root.glob(f".tmp-{task_id}-*")) else "after the write"
    print(
        f"killed the {victim} {caught}; archive folder exists: {history.index(task_id) is not None}"
    )
    if victim == "jobs worker":
        server.stop()
    server.start()
    redis_url = embedded_redis_url(server)
    assert requests.get(f"{api}/tasks/{task_id}/logs/text", timeout=60).text == expected
    _wait_for(
        "the restarted worker archives", lambda: _history_mark(redis_url, task_id) == "archived"
    )
    assert requests.get(f"{api}/tasks/{task_id}/logs/text", timeout=60).text == expected
    with sync_client(redis_url) as r:
        assert problems(r) == []
        assert archive_problems(r, history) == []


def test_a_full_history_disk_leaves_the_output_in_redis_and_the_archiver_retries(
    redis_factory: Callable[..., EmbeddedRedis], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    # The same 1 MiB tmpfs as the artifact-disk test.
    with _small_disk(data / "history") as mounted:
        if not mounted:
            why = "mounting a tmpfs is refused here (needs root): no full-disk archive test"
            unavailable(why)
        external = redis_factory()
        server = ServerProcess(
            data, ["--redis-url", external.url, "--event-retry", "1"], tmp_path / "server.log"
        ).start()
        try:
            _check_full_then_room(server, external.url, data / "history")
        finally:
            server.stop()


def _check_full_then_room(server: ServerProcess, redis_url: str, folder: Path) -> None:
    api = server.api
    task_id = _new_task(api)
    # Random text does not compress: 3 MB of it cannot fit in 1 MiB.
    for seq in range(30):
        texts = [os.urandom(50).hex() for _ in range(1000)]
        batch = {"seq": seq, "lines": [{"text": t, "ts": time.time()} for t in texts]}
        assert requests.post(f"{api}/tasks/{task_id}/logs", json=batch, timeout=30).ok
    before = requests.get(f"{api}/tasks/{task_id}/logs/text", timeout=30).text
    _end(api, task_id)
    _wait_for(
        "the archiver hits the full disk",
        lambda: "history store full" in server.log_path.read_text(),
    )
    time.sleep(2.5)  # at least one retry, still full
    assert server.log_path.read_text().count("history store full") >= 2
    assert _history_mark(redis_url, task_id) is None
    assert requests.get(f"{api}/tasks/{task_id}/logs/text", timeout=30).text == before
    assert [p.name for p in folder.iterdir()] == []
    with sync_client(redis_url) as r:
        assert r.exists(keys.task_logs(task_id))
        assert problems(r) == []

    subprocess.run(["mount", "-o", "remount,size=64m", str(folder)], check=True)
    _wait_for("the retried archive fits", lambda: _history_mark(redis_url, task_id) == "archived")
    assert requests.get(f"{api}/tasks/{task_id}/logs/text", timeout=30).text == before
    with sync_client(redis_url) as r:
        assert archive_problems(r, LocalHistory(folder)) == []
