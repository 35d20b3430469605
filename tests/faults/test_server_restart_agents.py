"""kill -9 the server while one agent streams a task's output and another long-polls.

Both reconnect with backoff once the server is back; the running task keeps its
lease (down time < lease) and finishes; its log holds each numbered line exactly
once, in order (batches carry sequence numbers, retries are deduplicated); the
idle agent (on a queue of its own) claims and runs new work after the restart.
"""

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runyard.client import Client
from runyard.models import Environment, Script, Task, TaskCreate, TaskStatus
from tests.e2e.agent_support import (
    DONE,
    AgentFactory,
    agent_factory,
    log_texts,
    wait_for,
    wait_status,
)
from tests.faults.consistency import problems
from tests.faults.support import (
    children_of,
    embedded_redis_url,
    git_repo,
    sync_client,
    wait_gone,
)
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e
__all__ = ["agent_factory"]

LINES = 200
COUNT = """\
import sys, time
for n in range(1, int(sys.argv[1]) + 1):
    print("line", n, flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _submit(
    client: Client, repo: Path, commit: str, lines: int, pause: float, queue: str = "default"
) -> Task:
    script = Script(
        repository=str(repo), commit=commit, entry_point="count.py", args=[str(lines), str(pause)]
    )
    body = TaskCreate(
        name="count", queue=queue, create_queue=True, script=script, environment=Environment()
    )
    return client.tasks.create(body)


def _numbers(client: Client, task_id: str) -> list[int]:
    return [int(t.split()[1]) for t in log_texts(client, task_id) if t.startswith("line ")]


def test_server_sigkill_mid_stream_agents_reconnect_and_no_log_line_is_lost_or_repeated(
    server_factory: Callable[..., ServerProcess], agent_factory: AgentFactory, tmp_path: Path
) -> None:
    server = server_factory("--redis-fsync", "always", "--lease", "30", "--first-lease", "30")
    repo = tmp_path / "repo"
    commit = git_repo(repo, {"count.py": COUNT})
    with Client(server.url) as client:
        streaming = agent_factory(server.url, name="streaming")
        task = _submit(client, repo, commit, LINES, 0.05)
        wait_for(lambda: len(_numbers(client, task.id)) >= 20, 60, "output before the crash")
        idle = agent_factory(server.url, "--queue", "later", name="idle")
        idle.wait_log("registered as")
        time.sleep(0.5)  # let the idle agent's long-poll be in flight
        children = children_of(server)
        server.kill()
        wait_gone(children)
        time.sleep(4)  # several failed claims and log batches: the backoff grows
        server.start()
        second = _submit(client, repo, commit, 5, 0, queue="later")
        first_done = wait_status(client, task.id, *DONE, timeout=90)
        second_done = wait_status(client, second.id, *DONE, timeout=90)
        numbers = _numbers(client, task.id)
        workers = {w.id: w.name for w in client.workers.list()}
    assert first_done.status is TaskStatus.COMPLETED and first_done.attempt == 1
    assert numbers == list(range(1, LINES + 1))
    assert second_done.status is TaskStatus.COMPLETED
    assert workers[second_done.worker or ""] == "idle"
    assert "not delivered, retrying" in streaming.log
    # The client retries with jittered exponential backoff first; then the agent backs off.
    assert "claim failed, retrying in" in idle.log
    with sync_client(embedded_redis_url(server)) as r:
        assert problems(r) == []
