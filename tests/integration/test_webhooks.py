"""Webhooks end to end: a receiver on loopback (the server runs with
--webhook-allow-private) gets signed POSTs, a 500 is retried under the same event id,
the delivery log tells what happened; and URLs that could reach the server's own
network are refused, at create and again at delivery."""

import asyncio
import hashlib
import hmac
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import requests
from fastapi.testclient import TestClient

from runyard.models import WebhookCreate
from runyard_server.config import Settings
from runyard_server.jobs.webhooks import Sender, fan_out
from runyard_server.redis_client import connect_url
from runyard_server.store import deliveries, webhooks
from runyard_server.store.notify import emit
from tests.integration.automation_support import (
    end_task,
    make_task,
    receiver,
    server_on,
)


def wait_for(what: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def signed_by(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_failed_task_is_posted_signed_and_retried_after_a_500_under_one_event_id(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNYARD_WEBHOOK_RETRY_S", "0.3")
    with receiver(fail_first=1) as hook:
        server = server_on(redis_url, tmp_path)
        try:
            api = server.api
            body = {"url": hook.url, "events": ["task.failed"], "project": "hooks"}
            made = requests.post(f"{api}/webhooks", json=body, timeout=10).json()
            secret = made["secret"]
            # Neither is sent: another project's failure, and an event not asked for.
            end_task(api, make_task(api, "elsewhere"), "failed")
            end_task(api, make_task(api, "hooks"), "completed")
            task_id = make_task(api, "hooks")
            end_task(api, task_id, "failed")
            wait_for(lambda: len(hook.got) >= 2)
            log = requests.get(f"{api}/webhooks/{made['id']}/deliveries", timeout=10).json()
            shown = requests.get(f"{api}/webhooks/{made['id']}", timeout=10).json()
        finally:
            server.stop()
    first, second = hook.got
    for got in (first, second):
        assert got.headers["x-runyard-signature"] == signed_by(secret, got.body)
        assert got.headers["x-runyard-event"] == "task.failed"
    assert first.body == second.body
    assert first.headers["x-runyard-event-id"] == second.headers["x-runyard-event-id"]
    event = second.json
    assert event["id"] == second.headers["x-runyard-event-id"]
    assert event["event"] == "task.failed"
    assert event["data"]["id"] == task_id and event["data"]["project"] == "hooks"
    assert "loss went to nan" in event["data"]["failure_reason"]
    assert [(d["status"], d["attempts"], d["response_code"]) for d in log] == [
        ("delivered", 2, 200)
    ]
    assert log[0]["event_id"] == event["id"]
    assert "secret" not in shown


def test_a_controllers_event_reaches_a_slack_format_webhook(redis_url: str, tmp_path: Path) -> None:
    with receiver() as hook:
        server = server_on(redis_url, tmp_path)
        try:
            body = {"url": hook.url, "events": ["sweep.done"], "format": "slack"}
            requests.post(f"{server.api}/webhooks", json=body, timeout=10).raise_for_status()
            payload = {"id": "ab12", "project": "hpo", "name": "lr search", "best": 0.93}
            asyncio.run(_emit(redis_url, "sweep.done", payload))
            wait_for(lambda: len(hook.got) >= 1)
        finally:
            server.stop()
    [got] = hook.got
    assert set(got.json) == {"text"}
    assert "sweep.done" in got.json["text"] and "lr search" in got.json["text"]
    assert got.headers["x-runyard-event-id"].startswith("n-")


async def _emit(redis_url: str, kind: str, payload: dict[str, object]) -> None:
    r = connect_url(redis_url)
    try:
        await emit(r, kind, payload)
    finally:
        await r.aclose()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/hook", "only http:// and https://"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("http://127.0.0.1:8008/api/v1/tasks", "(loopback)"),
        ("http://169.254.169.254/latest/meta-data/", "(link-local)"),
        ("http://10.1.2.3/hook", "(private)"),
        ("http://192.168.1.1/hook", "(private)"),
        ("http://[::1]:9/hook", "(loopback)"),
        ("http://localhost:9/hook", "resolves to 127.0.0.1 (loopback)"),
        ("http://2130706433/hook", "resolves to 127.0.0.1 (loopback)"),  # 127.0.0.1 as a number
        ("http://user:pw@example.com/hook", "no user or password"),
    ],
)
def test_a_url_that_could_reach_the_servers_own_network_is_refused(
    api: TestClient, url: str, why: str
) -> None:
    got = api.post("/webhooks", json={"url": url, "events": ["task.failed"]})
    assert got.status_code == 422, got.text
    assert why in got.json()["detail"]
    assert api.get("/webhooks").json() == []


async def _stored_delivery(r: aioredis.Redis, url: str) -> str:
    """A webhook stored without the route's check (as if made under
    --webhook-allow-private) and one pending delivery to it."""
    body = WebhookCreate(url=url, events=["task.failed"])
    made = await webhooks.create_webhook(r, body, None, time.time())
    await deliveries.add(r, made.id, "t-1-0", "task.failed", '{"id": "t-1-0"}', time.time())
    return made.id


@pytest.mark.anyio
async def test_the_address_is_checked_again_at_delivery(r: aioredis.Redis) -> None:
    with receiver() as hook:
        webhook_id = await _stored_delivery(r, hook.url)
        sender = Sender(r, Settings(webhook_allow_private=False))
        try:
            [due] = await deliveries.claim(r, time.time(), 30, 10)
            await sender.send(due)
        finally:
            await sender.close()
    assert hook.got == []
    [shown] = await deliveries.list_deliveries(r, webhook_id, 10)
    assert shown.status == "pending" and shown.attempts == 1
    assert shown.error and "(loopback)" in shown.error


@pytest.mark.anyio
async def test_a_delivery_fails_once_its_day_of_retries_is_over(r: aioredis.Redis) -> None:
    with receiver(fail_first=10) as hook:
        webhook_id = await _stored_delivery(r, hook.url)
        settings = Settings(webhook_allow_private=True, webhook_give_up_s=0.001)
        sender = Sender(r, settings)
        try:
            [due] = await deliveries.claim(r, time.time(), 30, 10)
            await sender.send(due)
        finally:
            await sender.close()
    assert len(hook.got) == 1
    [shown] = await deliveries.list_deliveries(r, webhook_id, 10)
    assert (shown.status, shown.response_code, shown.next_attempt) == ("failed", 500, None)
    assert await deliveries.claim(r, time.time() + 3600, 30, 10) == []


@pytest.mark.anyio
async def test_an_event_fanned_out_twice_is_one_delivery(r: aioredis.Redis) -> None:
    body = WebhookCreate(url="http://203.0.113.9/hook", events=["task.failed"])
    made = await webhooks.create_webhook(r, body, None, time.time())
    data = {"id": "a" * 32, "project": "p"}
    added = [await fan_out(r, "t-1700000000000-0", "task.failed", "p", data) for _ in range(2)]
    assert added == [1, 0]
    assert len(await deliveries.list_deliveries(r, made.id, 10)) == 1


@pytest.mark.anyio
async def test_a_receiver_that_hangs_holds_back_no_other_webhook(r: aioredis.Redis) -> None:
    with receiver() as fine, hanging() as stuck:
        slow_id = await _stored_delivery(r, stuck)
        fast_id = await _stored_delivery(r, fine.url)
        sender = Sender(r, Settings(webhook_allow_private=True, webhook_timeout_s=30))
        try:
            await sender.step()  # claims both, sends each on its own
            for _ in range(100):
                if fine.got:
                    break
                await asyncio.sleep(0.02)
            [fast] = await deliveries.list_deliveries(r, fast_id, 1)
            [slow] = await deliveries.list_deliveries(r, slow_id, 1)
        finally:
            await sender.close()
    assert len(fine.got) == 1 and fast.status == "delivered"
    assert (slow.status, slow.attempts) == ("pending", 0)


@contextmanager
def hanging() -> Iterator[str]:
    """A URL on loopback whose server accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        listener.close()
