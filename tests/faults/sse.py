"""A follower of ``GET /tasks/{id}/logs/stream`` that resumes like ``EventSource``.

It reconnects with ``Last-Event-ID`` when a response ends (the server bounds each to
``MAX_STREAM_S``) and, when a replica stops answering, moves to the next URL of its
list. Lines count only once the ``id:`` after them arrived: the server puts the
cursor on a page's last event, so lines read past the last id would come again after
a resume. Each line is kept as the text the task printed.
"""

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import requests

from runyard.models import API_PREFIX


@dataclass
class _Event:
    name: str = "message"
    data: list[str] = field(default_factory=list)
    id: str | None = None


def _events(lines: Iterator[str]) -> Iterator[_Event]:
    event = _Event()
    for line in lines:
        if not line:
            if event.data or event.id is not None or event.name != "message":
                yield event
            event = _Event()
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                event.data.append(value)
            elif name == "id":
                event.id = value
            elif name == "event":
                event.name = value


class SseFollower:
    """Follows one task's console on ``urls`` (tried in turn) on its own thread."""

    def __init__(self, urls: list[str], task_id: str) -> None:
        self.urls = urls
        self.task_id = task_id
        self.lines: list[str] = []
        self.served_by: list[str] = []
        self.end_status: str | None = None
        self.last_id: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sse-follower", daemon=True)

    def start(self) -> "SseFollower":
        self._thread.start()
        return self

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)
        self._stop.set()

    def _run(self) -> None:
        at = 0
        while not self._stop.is_set() and self.end_status is None:
            url = self.urls[at % len(self.urls)]
            try:
                self._follow(url)
            except (requests.RequestException, OSError):
                at += 1  # this replica is gone: the next one, from the same cursor
                time.sleep(0.2)

    def _follow(self, url: str) -> None:
        headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
        path = f"{url}{API_PREFIX}/tasks/{self.task_id}/logs/stream"
        with requests.get(path, headers=headers, stream=True, timeout=(2, 10)) as response:
            response.raise_for_status()
            self.served_by.append(url)
            pending: list[str] = []
            for event in _events(response.iter_lines(decode_unicode=True)):
                if event.name == "end":
                    self.end_status = "".join(event.data)
                    return
                pending += [json.loads(data)["text"] for data in event.data]
                if event.id is not None:
                    self.lines += pending
                    pending = []
                    self.last_id = event.id
