"""Heartbeats carry the GPU state only when it changed since the last delivered beat."""

from typing import Any

import pytest

from runyard.errors import ServerUnreachable
from runyard.models import GpuState, Heartbeat, HeartbeatReply
from runyard_agent.heartbeat import HeartbeatLoop


class Workers:
    def __init__(self) -> None:
        self.sent: list[Heartbeat] = []
        self.down = False

    def heartbeat(self, worker_id: str, body: Heartbeat, retries: int = 0) -> HeartbeatReply:
        if self.down:
            raise ServerUnreachable("http://server", "connection refused", 1)
        self.sent.append(body)
        return HeartbeatReply(lease_s=30)


class FakeClient:
    def __init__(self) -> None:
        self.workers = Workers()


def test_gpu_state_goes_when_changed_after_failures_and_to_a_new_worker_id() -> None:
    client, worker_id = FakeClient(), ["w1"]
    state = [GpuState(index=0), GpuState(index=1, busy=True, foreign_mb=2048)]
    loop = HeartbeatLoop(
        client,  # type: ignore[arg-type]
        lambda: worker_id[0],
        list,
        on_abort=print,
        on_preempt=lambda task_id, by: None,
        on_lost=print,
        on_auth=print,
        gpu_state=lambda: list(state),
    )

    def beat() -> Any:
        loop.beat()
        return client.workers.sent[-1].gpu_state

    assert beat() == state
    assert beat() is None
    state[1] = GpuState(index=1)
    client.workers.down = True
    with pytest.raises(ServerUnreachable):
        loop.beat()
    client.workers.down = False
    assert beat() == [GpuState(index=0), GpuState(index=1)]
    assert beat() is None
    worker_id[0] = "w2"  # registered again: the new record hears the state afresh
    assert beat() == [GpuState(index=0), GpuState(index=1)]


def test_an_agent_without_gpus_sends_no_gpu_state() -> None:
    client = FakeClient()
    loop = HeartbeatLoop(
        client,  # type: ignore[arg-type]
        lambda: "w1",
        list,
        on_abort=print,
        on_preempt=lambda task_id, by: None,
        on_lost=print,
        on_auth=print,
    )
    loop.beat()
    assert client.workers.sent[-1].gpu_state is None
