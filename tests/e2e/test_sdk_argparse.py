"""argparse is captured without ``task.connect`` (issue 11): a local run records the
parsed arguments as ``Args``, and its clone's override reaches the parsed namespace
when a real agent reruns it."""

from pathlib import Path

import pytest

from runyard.client import Client
from runyard.models import CloneRequest, TaskStatus
from tests.e2e.agent_support import DONE, AgentFactory, agent_factory, log_texts, wait_status
from tests.sdk_support import make_repo, run_script
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e
__all__ = ["agent_factory"]

# argv: PROJECT [--bs N]; never calls task.connect.
PARSE = """\
import argparse, sys
from runyard import Task
task = Task.init(project=sys.argv[1], name="argparse", requirements=[])
parser = argparse.ArgumentParser()
parser.add_argument("project")
parser.add_argument("--bs", type=int, default=8)
parser.add_argument("--opt", default="sgd")
args = parser.parse_args()
print(f"bs={args.bs!r} opt={args.opt}")
"""


def test_parsed_arguments_are_recorded_and_a_clone_override_reaches_them(
    server: ServerProcess, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path, PARSE)
    local = run_script(repo / "train.py", "argparse-p", "--bs", "16", server_url=server.url)
    assert local.returncode == 0, local.stderr
    assert "bs=16 opt=sgd" in local.stdout
    agent_factory(server.url)
    with Client(server.url) as client:
        (original,) = client.tasks.list(project="argparse-p").items
        assert original.params["Args"] == {"project": "argparse-p", "bs": 16, "opt": "sgd"}
        request = CloneRequest(overrides={"Args/bs": "32"}, queue="default", create_queue=True)
        clone = client.tasks.clone(original.id, request)
        done = wait_status(client, clone.id, *DONE, timeout=120)
        texts = log_texts(client, clone.id)
        assert done.status is TaskStatus.COMPLETED, (done.failure_reason, texts)
        assert "bs=32 opt=sgd" in texts
