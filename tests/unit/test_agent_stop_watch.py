"""The agent's stop watch: acts on the server's news, retries an unreachable server and
leaves stops to heartbeats on a server without the route."""

import threading

from runyard.errors import NotFoundError, ServerUnreachable
from runyard.models import HeldTask, StopNews, StopWatch
from runyard_agent.stop_watch import StopWatchLoop

HELD = [HeldTask(task_id="t1", lease_token="k1"), HeldTask(task_id="t2", lease_token="k2")]


class Workers:
    """Answers each watch with the next of ``replies`` (an exception is raised)."""

    def __init__(self, replies: list[StopNews | Exception]) -> None:
        self.replies = replies
        self.watches: list[StopWatch] = []
        self.done = threading.Event()

    def stops(self, worker_id: str, watch: StopWatch, retries: int = 0) -> StopNews:
        self.watches.append(watch)
        if not self.replies:
            self.done.set()
            raise NotFoundError(404, "not_found", "Not Found")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


class FakeClient:
    def __init__(self, replies: list[StopNews | Exception]) -> None:
        self.workers = Workers(replies)


def _run(client: FakeClient, held: list[HeldTask]) -> tuple[StopWatchLoop, list[str]]:
    told: list[str] = []
    loop = StopWatchLoop(
        client,  # type: ignore[arg-type]
        lambda: "w1",
        lambda: [task for task in held if task.task_id not in told],
        wait_s=20,
        on_abort=lambda task_id: told.append(task_id),
        on_preempt=lambda task_id, by: told.append(f"{task_id}<{by}"),
    )
    loop.start()
    assert client.workers.done.wait(10)
    loop._thread.join(5)
    return loop, told


def test_news_stops_the_tasks_and_the_next_watch_lists_only_the_others() -> None:
    client = FakeClient([StopNews(abort=["t1"]), StopNews(preempt={"t2": "p"})])
    loop, told = _run(client, HELD)

    assert told == ["t1", "t2<p"]
    assert [[t.task_id for t in w.running] for w in client.workers.watches] == [
        ["t1", "t2"],
        ["t2"],
        ["t2"],
    ]
    assert not loop._thread.is_alive()  # the last answer was a 404: an older server


def test_an_unreachable_server_is_watched_again_after_a_backoff() -> None:
    down = ServerUnreachable("http://server", "connection refused", 1)
    client = FakeClient([down, StopNews(abort=["t1"])])
    _, told = _run(client, HELD)

    assert told == ["t1"]
    assert len(client.workers.watches) == 3


def test_an_agent_without_tasks_sends_no_watch_until_nudged() -> None:
    held: list[HeldTask] = []
    client = FakeClient([StopNews()])
    loop = StopWatchLoop(
        client,  # type: ignore[arg-type]
        lambda: "w1",
        lambda: list(held),
        wait_s=20,
        on_abort=print,
        on_preempt=lambda task_id, by: None,
    )
    loop.start()
    assert not client.workers.done.wait(0.3)
    assert client.workers.watches == []
    held.append(HELD[0])
    loop.nudge()
    assert client.workers.done.wait(5)
    loop.stop()
