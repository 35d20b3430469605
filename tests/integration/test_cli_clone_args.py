"""A task without code is never queued (API, CLI, SDK); ``task clone --arg`` changes a
clone's script arguments; ``task show`` prints the working dir and a whole failure."""

import os
import subprocess
import sys

import pytest

from runyard.client import Client
from runyard.errors import InvalidError
from runyard.models import (
    CloneRequest,
    ErrorCode,
    FailureKind,
    Script,
    TaskCreate,
    merged_args,
)
from tests.integration.test_cli import cli, cli_json, live, unique
from tests.servers import ServerProcess

__all__ = ["live"]  # the module's server fixture, shared with test_cli


def test_a_task_without_code_is_refused_at_create_clone_and_enqueue(live: ServerProcess) -> None:
    with Client(live.url) as client:
        draft = client.tasks.create(TaskCreate(name="no-code", project=unique("nocode")))
        for attempt in (
            lambda: client.tasks.create(TaskCreate(queue="q", create_queue=True)),
            lambda: client.tasks.clone(draft.id, CloneRequest(queue="q", create_queue=True)),
            lambda: client.tasks.enqueue(draft.id, "q", create_queue=True),
        ):
            with pytest.raises(InvalidError) as refused:
                attempt()
            assert refused.value.status == 422
            assert refused.value.code == ErrorCode.NO_CODE
            assert "no code to run (script.entry_point is empty)" in refused.value.detail
        assert client.tasks.get(draft.id).status == "draft"
        # A draft clone is allowed (its script can still be set) and says why it cannot run.
        clone = client.tasks.clone(draft.id, CloneRequest())
        assert clone.warnings and "cannot be queued" in clone.warnings[0]

    enqueue = cli(live, "task", "enqueue", draft.id, "--queue", "q", "--create-queue", rc=1)
    assert "no code to run" in enqueue.stderr
    clone_cli = cli(live, "task", "clone", draft.id, "--queue", "q", "--create-queue", rc=1)
    assert "no code to run" in clone_cli.stderr
    reproduce = ["task", "reproduce", draft.id, "--queue", "q", "--create-queue", "--wait"]
    assert "no code to run" in cli(live, *reproduce, rc=1).stderr


def test_execute_remotely_without_code_fails_the_script(live: ServerProcess) -> None:
    project = unique("nocode-sdk")
    program = (
        "from runyard import Task\n"
        f"task = Task.init(project={project!r}, requirements=[])\n"
        "task.execute_remotely(queue='q', create_queue=True)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    done = subprocess.run(
        [sys.executable, "-c", program],
        env={**env, "RUNYARD_SERVER": live.url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "this run cannot be queued: the task has no code to run" in done.stderr
    with Client(live.url) as client:
        queued = [t for t in client.tasks.list(project=project).items if t.queue]
    assert queued == []


def test_clone_arg_replaces_by_key_appends_the_rest_and_no_args_starts_empty(
    live: ServerProcess,
) -> None:
    with Client(live.url) as client:
        source = client.tasks.create(
            TaskCreate(
                project=unique("args"),
                script=Script(
                    entry_point="train.py", args=["model.depth=5", "lr=0.1", "--seed=1", "-v"]
                ),
            )
        )
    clone = cli_json(
        live, "task", "clone", source.id, "--arg", "model.depth=3", "--arg=--seed=7",
        "--arg", "+trainer.fast=true", "--arg", "extra",
    )  # fmt: skip
    assert clone["script"]["args"] == [
        "model.depth=3", "lr=0.1", "--seed=7", "-v", "+trainer.fast=true", "extra",
    ]  # fmt: skip
    fresh = cli_json(live, "task", "clone", source.id, "--no-args", "--arg", "lr=1")
    assert fresh["script"]["args"] == ["lr=1"]
    untouched = cli_json(live, "task", "clone", source.id)
    assert untouched["script"]["args"] == source.script.args


def test_merged_args_replaces_every_argument_of_a_key_in_place() -> None:
    assert merged_args(["a=1", "b=2", "++a=3"], ["a=9", "c"]) == ["a=9", "b=2", "c"]
    assert merged_args(["--lr", "0.1"], ["--lr=1"]) == ["--lr", "0.1", "--lr=1"]


def test_show_prints_the_working_dir_and_every_line_of_a_failure(live: ServerProcess) -> None:
    reason = "script: exit code 1; last output lines:\nTraceback (most recent call last):\n" + (
        "ValueError: loss exploded"
    )
    script = Script(entry_point="projects/churn/train.py", working_dir="projects/churn")
    with Client(live.url) as client:
        claim = client.tasks.start_local(TaskCreate(project=unique("show"), script=script))
        assert claim.task is not None
        client.tasks.report_failed(claim.task.id, claim.lease_token, FailureKind.SCRIPT, reason, 1)
    shown = cli(live, "task", "show", claim.task.id).stdout
    lines = shown.splitlines()
    assert any(line.split() == ["working", "dir:", "projects/churn"] for line in lines), shown
    failure = next(i for i, line in enumerate(lines) if line.startswith("failure:"))
    assert lines[failure].endswith("script: exit code 1; last output lines:")
    assert lines[failure + 1].strip() == "Traceback (most recent call last):"
    assert lines[failure + 2].strip() == "ValueError: loss exploded"
    assert lines[failure + 2].startswith(" " * 10)
