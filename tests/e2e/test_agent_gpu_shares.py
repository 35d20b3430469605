"""Shares of one GPU with a real agent on a fake GPU: two halves run side by side on
the same device with the memory fraction applied by the SDK, a whole-GPU task waits."""

from pathlib import Path

from runyard.client import Client
from runyard.models import TaskStatus
from tests.e2e.agent_support import (
    DONE,
    AgentFactory,
    log_texts,
    submit,
    wait_for,
    wait_status,
)
from tests.gitrepo import commit_then_change
from tests.servers import ServerProcess

# Each half writes a marker in argv[1] and runs until argv[2] exists, so both must run
# at once for the test to see two markers. A stand-in `torch` (CUDA "available") shows
# what the SDK's Task.init asks of it.
SHARE = """\
import os, pathlib, sys, time
sys.path.insert(0, str(pathlib.Path(__file__).parent / "stand_in"))
from runyard import Task
Task.init()
print("CUDA_VISIBLE_DEVICES=" + repr(os.environ["CUDA_VISIBLE_DEVICES"]))
print("FRACTION=" + os.environ.get("RUNYARD_GPU_MEMORY_FRACTION", "-"), flush=True)
pathlib.Path(sys.argv[1], os.environ["RUNYARD_TASK_ID"]).touch()
deadline = time.monotonic() + 120
while not pathlib.Path(sys.argv[2]).exists() and time.monotonic() < deadline:
    time.sleep(0.1)
"""

TORCH = """\
def manual_seed(seed):
    pass


class cuda:
    @staticmethod
    def manual_seed_all(seed):
        pass

    @staticmethod
    def is_available():
        return True

    @staticmethod
    def device_count():
        return 1

    @staticmethod
    def set_per_process_memory_fraction(fraction, device):
        print(f"torch memory fraction {fraction} on device {device}", flush=True)
"""


def test_two_halves_share_one_gpu_while_a_whole_gpu_task_waits(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    files = {"share.py": SHARE, "stand_in/torch/__init__.py": TORCH}
    repo = commit_then_change(root, files, "share.py", "\n")
    markers, release = tmp_path / "markers", tmp_path / "release"
    markers.mkdir()
    args = [str(markers), str(release)]
    agent_factory(server.url, name="one-gpu", fake_gpus=1)

    halves = [
        submit(client, repo, "share.py", args=args, requirements=[], gpus=0.5, name=f"half{i}")
        for i in range(2)
    ]
    whole = submit(client, repo, "share.py", args=args, requirements=[], gpus=1, name="whole")

    wait_for(lambda: len(list(markers.iterdir())) == 2, timeout=60, what="both halves running")
    assert client.tasks.get(whole.id).status is TaskStatus.QUEUED
    release.touch()
    for task in (*halves, whole):
        assert wait_status(client, task.id, *DONE, timeout=120).status is TaskStatus.COMPLETED

    for half in halves:
        lines = log_texts(client, half.id)
        assert "CUDA_VISIBLE_DEVICES='0'" in lines
        assert "FRACTION=0.5" in lines
        assert "torch memory fraction 0.5 on device 0" in lines
        placement = client.tasks.get(half.id).placement
        assert [(p.gpu_indices, p.gpu_fraction) for p in placement] == [([0], 0.5)]
    lines = log_texts(client, whole.id)
    assert "CUDA_VISIBLE_DEVICES='0'" in lines and "FRACTION=-" in lines
    assert not any("torch memory fraction" in line for line in lines)
