"""A real agent with fake GPUs (models, memory, NVLink peers, foreign memory use from a
file it re-reads): a GPU busy with another user's job is never handed out, and the
server's worker list shows each GPU's state."""

import json
import time
from pathlib import Path

import pytest

from runyard.client import Client
from runyard.models import GpuState, GpuTask, TaskStatus, Worker
from tests.e2e.agent_support import DONE, AgentFactory, log_texts, submit, wait_for, wait_status
from tests.gitrepo import commit_then_change
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

GPU_SCRIPT = """\
import os, sys, time
print("CUDA_VISIBLE_DEVICES=" + repr(os.environ["CUDA_VISIBLE_DEVICES"]), flush=True)
time.sleep(float(sys.argv[1]))
"""


def write_gpus(path: Path, foreign_mb: list[int]) -> None:
    """Two NVLinked A100s and a T4, with that much foreign memory on each; replaced whole,
    so the agent never reads half a file."""
    models = [("NVIDIA A100-SXM4-80GB", 80, [1]), ("NVIDIA A100-SXM4-80GB", 80, [0]),
              ("Tesla T4", 15, [])]  # fmt: skip
    spec = [
        {"name": name, "memory_gb": memory, "peers": peers, "foreign_mb": mb}
        for (name, memory, peers), mb in zip(models, foreign_mb, strict=True)
    ]
    part = path.with_suffix(".part")
    part.write_text(json.dumps(spec))
    part.replace(path)


def worker(client: Client, name: str) -> Worker:
    (found,) = [w for w in client.workers.list() if w.name == name]
    return found


def gpu_state(client: Client, name: str) -> list[GpuState]:
    return worker(client, name).gpu_state


def test_busy_gpu_is_never_handed_out_until_its_foreign_use_ends(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    (tmp_path / "repo").mkdir()
    repo = commit_then_change(tmp_path / "repo", {"gpu.py": GPU_SCRIPT}, "gpu.py", "\n")
    spec = tmp_path / "gpus.json"
    write_gpus(spec, [0, 4096, 0])
    agent = agent_factory(server.url, name="gpu-box",
                          extra_env={"RUNYARD_AGENT_FAKE_GPUS_JSON": str(spec)})  # fmt: skip

    agent.wait_log("registered as gpu-box")

    # The server hears each GPU's model, memory and peers, and that GPU 1 is busy.
    wait_for(lambda: any(s.busy for s in gpu_state(client, "gpu-box")), what="GPU 1 busy")
    box = worker(client, "gpu-box")
    assert [(g.name, g.memory_gb, g.peers) for g in box.gpus] == [
        ("NVIDIA A100-SXM4-80GB", 80.0, [1]),
        ("NVIDIA A100-SXM4-80GB", 80.0, [0]),
        ("Tesla T4", 15.0, []),
    ]
    assert box.gpu_state == [
        GpuState(index=0),
        GpuState(index=1, busy=True, foreign_mb=4096),
        GpuState(index=2),
    ]

    # Two one-GPU tasks take GPUs 0 and 2, never the busy 1; a three-GPU task waits.
    first = submit(client, repo, "gpu.py", args=["4"], requirements=[], gpus=1, name="one")
    second = submit(client, repo, "gpu.py", args=["4"], requirements=[], gpus=1, name="two")
    three = submit(client, repo, "gpu.py", args=["0"], requirements=[], gpus=3, name="three")
    for task in (first, second):
        wait_status(client, task.id, TaskStatus.RUNNING, *DONE)
    wait_for(
        lambda: sum(len(s.tasks) for s in gpu_state(client, "gpu-box")) == 2,
        what="both tasks in the GPU state",
    )
    shown = {s.index: s.tasks for s in gpu_state(client, "gpu-box")}
    assert shown[1] == []
    assert sorted(t.task_id for t in shown[0] + shown[2]) == sorted([first.id, second.id])
    assert all(t == GpuTask(task_id=t.task_id, share=1.0) for t in shown[0] + shown[2])
    for task in (first, second):
        assert wait_status(client, task.id, *DONE).status is TaskStatus.COMPLETED
    seen = {text for task in (first, second) for text in log_texts(client, task.id)}
    assert {"CUDA_VISIBLE_DEVICES='0'", "CUDA_VISIBLE_DEVICES='2'"} <= seen

    # All GPUs but the busy one are free now; through two more 2 s claims and busy
    # checks the three-GPU task keeps waiting.
    wait_for(lambda: not any(s.tasks for s in gpu_state(client, "gpu-box")), what="tasks gone")
    time.sleep(5)
    assert client.tasks.get(three.id).status is TaskStatus.QUEUED
    assert "GPU foreign use changed" not in agent.log

    # The other user's job ends: the GPU is free and the waiting task gets all three.
    write_gpus(spec, [0, 0, 0])
    assert wait_status(client, three.id, *DONE).status is TaskStatus.COMPLETED
    assert "CUDA_VISIBLE_DEVICES='0,1,2'" in log_texts(client, three.id)
    assert "GPU foreign use changed: GPU 1 free (0 MiB foreign)" in agent.log
    wait_for(lambda: not any(s.busy for s in gpu_state(client, "gpu-box")), what="GPU 1 free")
