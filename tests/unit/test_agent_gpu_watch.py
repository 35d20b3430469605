"""Busy GPUs: memory held by processes the agent did not start, judged through a fake
``pynvml`` whose process lists name real processes (this test's own, a child in its own
session like a task, and init)."""

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from runyard.models import GpuState, GpuTask
from runyard_agent.gpu_provider import GpuProcess, GpuUnavailable
from runyard_agent.gpu_watch import GpuUse, GpuWatch, gpu_state, is_descendant
from runyard_agent.resources import NvmlProvider
from tests.unit.fake_nvml import FakeDevice, FakeNvml, install

MIB = 1024**2


@pytest.fixture
def task() -> Iterator[subprocess.Popen[bytes]]:
    """A process started like a task (its own session) with a child of its own."""
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
    code += "'import time; time.sleep(60)']); time.sleep(60)"
    process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    yield process
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, 9)
    process.wait()


def child_of(pid: int) -> int:
    for _ in range(500):
        children = psutil.Process(pid).children()
        if children:
            return children[0].pid
        time.sleep(0.02)
    raise AssertionError("the task's child did not start")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Scripted:
    """A provider whose process list a test sets; counts the queries."""

    name = "scripted"

    def __init__(self) -> None:
        self.answer: list[GpuProcess] | Exception = []
        self.queries = 0

    def detect(self) -> list[object]:
        return []

    def cuda_version(self) -> None:
        return None

    def processes(self) -> list[GpuProcess]:
        self.queries += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return list(self.answer)


def test_only_foreign_memory_over_the_threshold_makes_a_gpu_busy(
    monkeypatch: pytest.MonkeyPatch, task: subprocess.Popen[bytes]
) -> None:
    grandchild = child_of(task.pid)
    devices = [
        # The agent itself and a task's child: its own, however much they hold.
        FakeDevice("NVIDIA A100-SXM4-80GB", 80, bus=1,
                   compute=[(os.getpid(), 9000 * MIB), (grandchild, 30000 * MIB)]),
        # Another user's job (init stands in for any process that is not ours).
        FakeDevice("NVIDIA A100-SXM4-80GB", 80, bus=2, compute=[(1, 2048 * MIB)]),
        # Someone's small desktop use: under the threshold.
        FakeDevice("NVIDIA A100-SXM4-80GB", 80, bus=3, graphics=[(1, 500 * MIB)]),
        # A foreign process whose memory the driver does not report.
        FakeDevice("NVIDIA A100-SXM4-80GB", 80, bus=4, compute=[(1, None)]),
    ]  # fmt: skip
    install(monkeypatch, FakeNvml(devices))
    watch = GpuWatch(NvmlProvider(), [0, 1, 2, 3], 1024, lambda: [task.pid])

    assert watch.use() == {
        0: GpuUse(),
        1: GpuUse(foreign_mb=2048, busy=True),
        2: GpuUse(foreign_mb=500),
        3: GpuUse(unknown=True, busy=True),
    }
    assert watch.busy() == {1, 3}


def test_gpus_the_agent_does_not_use_are_not_watched(monkeypatch: pytest.MonkeyPatch) -> None:
    devices = [FakeDevice("NVIDIA L4", 22, bus=1, compute=[(1, 9000 * MIB)]),
               FakeDevice("NVIDIA L4", 22, bus=2)]  # fmt: skip
    install(monkeypatch, FakeNvml(devices))
    watch = GpuWatch(NvmlProvider(), [1], 1024, list)
    assert watch.use() == {1: GpuUse()}


def test_a_task_in_its_own_session_is_the_agents(task: subprocess.Popen[bytes]) -> None:
    assert is_descendant(task.pid, {os.getpid()}, {task.pid})
    assert is_descendant(child_of(task.pid), {os.getpid()}, {task.pid})
    # Started by this process, so a descendant even without the session.
    assert is_descendant(task.pid, {os.getpid()}, set())
    assert not is_descendant(1, {os.getpid()}, {task.pid})
    assert not is_descendant(0, {os.getpid()}, {task.pid})


def test_answers_are_reused_within_the_refresh_time() -> None:
    provider, clock = Scripted(), Clock()
    watch = GpuWatch(provider, [0], 100, list, refresh_s=1.5, clock=clock)
    assert watch.busy() == frozenset()
    provider.answer = [GpuProcess(0, 1, 400)]
    clock.now += 1.0
    assert watch.busy() == frozenset()
    assert provider.queries == 1
    clock.now += 0.5
    assert watch.busy() == {0}
    assert provider.queries == 2


def test_a_failing_query_keeps_the_last_answer() -> None:
    provider, clock = Scripted(), Clock()
    watch = GpuWatch(provider, [0, 1], 100, list, refresh_s=1.0, clock=clock)
    provider.answer = [GpuProcess(1, 1, 400)]
    assert watch.busy() == {1}
    provider.answer = GpuUnavailable("driver gone")
    clock.now += 5
    assert watch.busy() == {1}
    provider.answer = []
    clock.now += 5
    assert watch.busy() == frozenset()


def test_an_own_process_that_ended_stays_own_while_listed(
    task: subprocess.Popen[bytes],
) -> None:
    provider, clock = Scripted(), Clock()
    pids = [task.pid]
    watch = GpuWatch(provider, [0], 100, lambda: pids, refresh_s=1.0, clock=clock)
    provider.answer = [GpuProcess(0, task.pid, 5000)]
    assert watch.busy() == frozenset()

    # The task ends; the driver still lists its memory for a moment.
    os.killpg(task.pid, 9)
    task.wait()
    pids.clear()
    clock.now += 2
    assert watch.busy() == frozenset()

    # Once no longer listed it is forgotten: a new process with that pid is judged afresh.
    provider.answer = []
    clock.now += 2
    assert watch.busy() == frozenset()
    provider.answer = [GpuProcess(0, task.pid, 5000)]
    clock.now += 2
    assert watch.busy() == {0}


def test_gpu_state_lists_every_gpu_with_its_tasks() -> None:
    use = {0: GpuUse(foreign_mb=3000, busy=True), 1: GpuUse(foreign_mb=10)}
    tasks = {1: [GpuTask(task_id="b", share=0.5), GpuTask(task_id="a", share=0.25)]}
    assert gpu_state([0, 1, 2], use, tasks) == [
        GpuState(index=0, busy=True, foreign_mb=3000),
        GpuState(
            index=1,
            foreign_mb=10,
            tasks=[GpuTask(task_id="a", share=0.25), GpuTask(task_id="b", share=0.5)],
        ),
        GpuState(index=2),
    ]
