"""Pipelines end to end: a real server (its jobs process runs the controller), real agents
running step scripts from a real git repository with the SDK, artifacts passed between
steps through each step's task token, the step cache on a rerun, retries, the failure
and abort cascades, and a server killed with -9 mid-pipeline."""

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from runyard import Pipeline
from runyard.client import Client
from runyard.models import PipelineRun, RunStatus, StepStatus, TaskStatus
from runyard_server.embedded import EmbeddedRedis
from tests.e2e.agent_support import AgentFactory
from tests.gitrepo import Repo, commit_then_change
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e

USER, AGENT = "user-pipelines-secret-1", "agent-pipelines-secret-2"
TOKENS = ("--token", f"user:{USER}", "--token", f"agent:{AGENT}")

PREPARE = """\
import pathlib
from runyard import Task
task = Task.init(project="pipe", name="prepare")
cfg = task.connect({"rows": 3})
pathlib.Path("data.txt").write_text("\\n".join(str(i) for i in range(cfg["rows"])))
task.upload_artifact("data", "data.txt")
"""

# Downloads the parent's artifact with this task's own token (RUNYARD_TOKEN).
TRAIN = """\
import pathlib, sys, time
from runyard import Task
task = Task.init(project="pipe", name="train")
cfg = task.connect({"lr": 0.0, "data": "", "sleep": 0.0, "fail_marker": "", "ready": ""})
if cfg["fail_marker"] and not pathlib.Path(cfg["fail_marker"]).exists():
    pathlib.Path(cfg["fail_marker"]).write_text("failed once")
    sys.exit(4)
rows = task.download_reference(cfg["data"], "in.txt").read_text().splitlines()
if cfg["ready"]:
    pathlib.Path(cfg["ready"]).write_text("downloaded")
time.sleep(cfg["sleep"])
task.log_metric("val/acc", cfg["lr"] * len(rows))
"""

EVALUATE = """\
from runyard import Task
task = Task.init(project="pipe", name="evaluate")
cfg = task.connect({"a": 0.0, "b": 0.0})
task.log_metric("score", cfg["a"] + cfg["b"])
"""

FAIL = "raise SystemExit(3)\n"
RUNYARD = Path(sys.executable).with_name("runyard")


def _repo(tmp_path: Path) -> Repo:
    path = tmp_path / "repo"
    path.mkdir()
    files = {"prepare.py": PREPARE, "train.py": TRAIN, "evaluate.py": EVALUATE, "fail.py": FAIL}
    return commit_then_change(path, files, "evaluate.py", "# uncommitted\n")


def _script(repo: Repo, entry_point: str) -> dict[str, Any]:
    return {
        "repository": str(repo.path),
        "commit": repo.commit,
        "diff": repo.diff,
        "entry_point": entry_point,
    }


def _diamond(repo: Repo, **train_params: Any) -> dict[str, Any]:
    """prepare → train_a, train_b → evaluate, as the YAML file holds it."""

    def train(lr: str) -> dict[str, Any]:
        return {
            "script": _script(repo, "train.py"),
            "parents": ["prepare"],
            "params": {"General/lr": lr, "General/data": "${prepare.artifacts.data}"}
            | {f"General/{k}": v for k, v in train_params.items()},
            "environment": {"requirements": []},
        }

    return {
        "name": "diamond",
        "project": "pipe",
        "params": {"lr_a": 0.1, "lr_b": 0.2},
        "queue": "pq",
        "steps": [
            {"name": "prepare", "script": _script(repo, "prepare.py")},
            {"name": "train_a", **train("${params.lr_a}")},
            {"name": "train_b", **train("${params.lr_b}")},
            {
                "name": "evaluate",
                "script": _script(repo, "evaluate.py"),
                "parents": ["train_a", "train_b"],
                "params": {
                    "General/a": "${train_a.metrics.val/acc}",
                    "General/b": "${train_b.metrics.val/acc}",
                },
            },
        ],
    }


def _wait_run(client: Client, run_id: str, timeout: float = 180.0) -> PipelineRun:
    deadline = time.monotonic() + timeout
    run = client.pipelines.get_run(run_id)
    while not (run.status.is_final and all(s.status.is_final for s in run.steps)):
        if time.monotonic() > deadline:
            pytest.fail(f"run {run_id} is {run.status} after {timeout}s: {run.steps}")
        time.sleep(0.2)
        run = client.pipelines.get_run(run_id)
    return run


def _cli(server: ServerProcess, *argv: str) -> "subprocess.CompletedProcess[str]":
    """The real ``runyard`` CLI as the user with a token; it must succeed."""
    command = [str(RUNYARD), "--server", server.url, "--token", USER, *argv]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done


def _one_agent(
    server: ServerProcess, agent_factory: AgentFactory, tmp_path: Path
) -> tuple[Client, Repo]:
    """One agent serving queue ``pq`` of an open ``server``; a client and the repo."""
    agent_factory(server.url, "--queue", "pq")
    client = Client(server.url)
    client.queues.create("pq")
    return client, _repo(tmp_path)


def _until_train_a_runs(client: Client, repo: Repo, sleep: float) -> PipelineRun:
    """A diamond whose training steps sleep ``sleep`` s, once its train_a runs."""
    run = Pipeline.from_dict(_diamond(repo, sleep=sleep), client).run()
    deadline = time.monotonic() + 120
    while _step(run, "train_a").status is not StepStatus.RUNNING:
        assert time.monotonic() < deadline, run.steps
        time.sleep(0.1)
        run = client.pipelines.get_run(run.id)
    return run


def _step(run: PipelineRun, name: str) -> Any:
    return next(step for step in run.steps if step.name == name)


def _score(client: Client, run: PipelineRun) -> float:
    return client.metrics.read(_step(run, "evaluate").task).final["score"]


@pytest.fixture
def secured(server_factory: Any) -> ServerProcess:
    server: ServerProcess = server_factory(*TOKENS)
    return server


def test_diamond_passes_artifacts_and_a_rerun_reuses_exactly_the_unchanged_steps(
    secured: ServerProcess,
    agent_factory: AgentFactory,
    tmp_path: Path,
) -> None:
    repo = _repo(tmp_path)
    for name in ("a1", "a2"):
        agent_factory(secured.url, "--queue", "pq", name=name, token=AGENT)
    client = Client(secured.url, token=USER)
    client.queues.create("pq")
    spec_file = tmp_path / "pipeline.yaml"
    spec_file.write_text(json.dumps(_diamond(repo)))  # JSON is YAML
    ran = _cli(secured, "pipeline", "run", "-f", str(spec_file), "--wait", "--json")
    first = PipelineRun.model_validate_json(ran.stdout)

    assert first.status is RunStatus.COMPLETED, first.reason
    assert all(s.status is StepStatus.COMPLETED and not s.cache_hit for s in first.steps)
    assert _score(client, first) == pytest.approx(0.1 * 3 + 0.2 * 3)
    evaluate = client.tasks.get(_step(first, "evaluate").task)
    assert evaluate.params["General"] == {"a": pytest.approx(0.3), "b": pytest.approx(0.6)}
    assert evaluate.origin == f"pipeline:{first.id}:evaluate"

    second = _wait_run(client, client.pipelines.clone_run(first.id, {"lr_b": 0.5}).id)

    assert second.status is RunStatus.COMPLETED, second.reason
    hits = {s.name: s.cached_from for s in second.steps if s.cache_hit}
    assert hits == {
        "prepare": _step(first, "prepare").task,
        "train_a": _step(first, "train_a").task,
    }
    assert _score(client, second) == pytest.approx(0.1 * 3 + 0.5 * 3)
    shown = _cli(secured, "pipeline", "show", second.id).stdout
    assert f"hit (task {_step(first, 'prepare').task})" in shown


def test_a_step_retries_then_a_failing_step_fails_the_run_and_skips_its_children(
    server: ServerProcess, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    client, repo = _one_agent(server, agent_factory, tmp_path)
    marker = tmp_path / "failed-once"
    flaky = Pipeline.from_dict(_diamond(repo, fail_marker=str(marker)), client)
    flaky.steps[1] = flaky.steps[1].model_copy(update={"retries": 1})
    flaky.steps[2] = flaky.steps[2].model_copy(update={"retries": 1})

    run = _wait_run(client, flaky.run().id)

    assert run.status is RunStatus.COMPLETED, run.reason
    retried = [s for s in run.steps if s.attempts == 2]
    assert len(retried) == 1 and retried[0].reason and "attempt 1 failed" in retried[0].reason
    assert client.tasks.get(retried[0].tasks[0]).status is TaskStatus.FAILED

    broken = Pipeline("broken", project="pipe", queue="pq", client=client)
    broken.add_step("prepare", script=_script(repo, "prepare.py"))
    broken.add_step("fails", script=_script(repo, "fail.py"), parents=["prepare"], retries=1)
    broken.add_step("after", script=_script(repo, "evaluate.py"), parents=["fails"])
    run = _wait_run(client, broken.run().id)

    assert run.status is RunStatus.FAILED
    assert run.reason and run.reason.startswith("step fails failed: script: exit code 3")
    assert [s.status for s in run.steps] == [
        StepStatus.COMPLETED,
        StepStatus.FAILED,
        StepStatus.SKIPPED,
    ]
    assert _step(run, "fails").attempts == 2


def test_aborting_a_run_stops_its_running_step_and_skips_the_rest(
    server: ServerProcess, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    client, repo = _one_agent(server, agent_factory, tmp_path)
    run = _until_train_a_runs(client, repo, sleep=60.0)

    client.pipelines.abort_run(run.id)
    run = _wait_run(client, run.id, timeout=60)

    assert run.status is RunStatus.ABORTED
    statuses = {s.name: s.status for s in run.steps}
    assert statuses == {
        "prepare": StepStatus.COMPLETED,
        "train_a": StepStatus.ABORTED,
        "train_b": StepStatus.ABORTED,
        "evaluate": StepStatus.SKIPPED,
    }
    assert client.tasks.get(_step(run, "train_a").task).status is TaskStatus.ABORTED


def test_a_server_killed_mid_pipeline_resumes_it_without_a_second_task_per_step(
    server_factory: Any,
    redis_factory: Any,
    agent_factory: AgentFactory,
    tmp_path: Path,
) -> None:
    redis: EmbeddedRedis = redis_factory()
    server: ServerProcess = server_factory("--redis-url", redis.url)
    client, repo = _one_agent(server, agent_factory, tmp_path)
    ready = tmp_path / "downloaded"
    run = Pipeline.from_dict(_diamond(repo, sleep=8.0, ready=str(ready)), client).run()
    deadline = time.monotonic() + 120
    while not ready.exists():  # a training step runs, past its download
        assert time.monotonic() < deadline, client.pipelines.get_run(run.id).steps
        time.sleep(0.1)

    server.kill()  # its jobs process (the controller) goes with it
    time.sleep(2)
    server.start()
    run = _wait_run(client, run.id)

    assert run.status is RunStatus.COMPLETED, run.reason
    assert all(s.attempts == 1 and len(s.tasks) == 1 for s in run.steps)
    made = client.tasks.list(project="pipe", limit=100).items
    origins = [t.origin for t in made if t.origin and t.origin.startswith(f"pipeline:{run.id}:")]
    assert sorted(origins) == sorted(f"pipeline:{run.id}:{s.name}" for s in run.steps)
    assert _score(client, run) == pytest.approx(0.9)
