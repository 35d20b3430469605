"""Sweeps as people use them, against a real server and agent: ``runyard.Sweep`` from
Python, and ``runyard sweep create|show|list|stop|resume|best|reproduce`` as a
subprocess, on trials that really run (``tests/sweep_trials.py``)."""

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from runyard import InvalidError, Sweep
from runyard.models import SweepStatus, TaskStatus, TrialStatus
from tests.e2e.agent_support import wait_for, wait_status
from tests.integration.test_cli import RUNYARD, cli, unique
from tests.sweep_trials import LRS, Yard, base_task, grid_spec, sweep_yard

pytestmark = pytest.mark.e2e

QUEUE = "sweeps"


@pytest.fixture(scope="module")
def yard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Yard]:
    with sweep_yard(tmp_path_factory.mktemp("sweeps"), QUEUE) as started:
        yield started


@pytest.fixture(scope="module")
def finished(yard: Yard) -> Sweep:
    """A sweep started from Python over the whole grid, one trial at a time, run to its end."""
    base = base_task(yard.client, yard.repo, unique("grid"))
    fields = grid_spec(base.id, QUEUE)
    fields.pop("base")
    sweep = Sweep.create(base.id, server=yard.server.url, **fields)
    assert sweep.status is SweepStatus.RUNNING
    return sweep.wait(timeout=240, poll_s=0.5)


def test_a_python_sweep_runs_every_trial_as_a_clone_and_finds_the_best(
    yard: Yard, finished: Sweep
) -> None:
    trials = finished.trials()
    record = finished.record

    assert record.status is SweepStatus.DONE, record.reason
    assert sorted(t.params["General/lr"] for t in trials) == sorted(LRS)
    best = finished.best()
    assert best is not None and best.params == {"General/lr": max(LRS)}
    assert best.value == pytest.approx(max(LRS))
    for trial in trials:
        assert trial.task_id is not None
        task = yard.client.tasks.get(trial.task_id)
        assert task.parent == record.base
        assert task.origin == f"sweep:{record.id}:{trial.number}"
        assert task.params["General"]["lr"] == trial.params["General/lr"]
    # A lower lr is below the median at every step: whichever ran after a better one
    # was cut early, with the reason saying where and by what.
    pruned = [t for t in trials if t.status is TrialStatus.PRUNED]
    assert pruned, [(t.number, t.params, t.status) for t in trials]
    for trial in pruned:
        assert (
            trial.reason and trial.reason.startswith("pruned at step") and "median" in trial.reason
        )
        assert trial.step is not None and trial.step < 7


def test_show_ranks_the_trials_by_objective_and_marks_the_best(yard: Yard, finished: Sweep) -> None:
    shown = cli(yard.server, "sweep", "show", finished.id).stdout
    as_json = json.loads(cli(yard.server, "sweep", "show", finished.id, "--json").stdout)
    # --watch on a sweep that has ended draws it once and returns.
    watched = cli(yard.server, "sweep", "show", finished.id, "--watch").stdout

    lines = shown.splitlines()
    rows = lines[lines.index("") + 2 :]
    assert f"best: trial {finished.record.best.number}" in shown  # type: ignore[union-attr]
    assert rows[0].split()[0] == "1*" and rows[0].split()[4] == "0.9"
    assert "General/lr".upper() in lines[lines.index("") + 1]
    scored = [t["value"] for t in as_json["trials"] if t["status"] != "aborted" and t["value"]]
    assert scored == sorted(scored, reverse=True)
    assert as_json["sweep"]["id"] == finished.id
    assert watched == shown


def test_list_and_best_and_clone_best_make_a_normal_task(yard: Yard, finished: Sweep) -> None:
    listed = cli(yard.server, "sweep", "list").stdout
    best = cli(yard.server, "sweep", "best", finished.id).stdout
    clone = json.loads(
        cli(yard.server, "sweep", "best", finished.id, "--clone", "--queue", QUEUE, "--json").stdout
    )
    misuse = cli(yard.server, "sweep", "best", finished.id, "--queue", QUEUE, rc=2)

    row = next(line for line in listed.splitlines() if line.startswith(finished.id))
    assert row.split()[-7:-2] == ["done", "4/4", "0", "max", "val/acc"]
    assert "General/lr=0.9" in best
    assert clone["parent"] == finished.record.best.task_id  # type: ignore[union-attr]
    assert clone["status"] == "queued" and clone["queue"] == QUEUE
    assert clone["params"]["General"]["lr"] == 0.9
    assert "--queue and --name go with --clone" in misuse.stderr
    wait_status(yard.client, clone["id"], TaskStatus.COMPLETED)


def test_reproduce_reruns_the_best_trial_and_prints_the_verdict(
    yard: Yard, finished: Sweep
) -> None:
    done = cli(yard.server, "sweep", "reproduce", finished.id)

    best_task = finished.record.best.task_id  # type: ignore[union-attr]
    assert f"best: trial {finished.record.best.number} (task {best_task})" in done.stdout  # type: ignore[union-attr]
    assert f"reproduced: {best_task} -> " in done.stdout
    assert "val/acc" in done.stdout


def test_create_from_a_file_with_flags_on_top_then_watch_stop_and_resume(
    yard: Yard, tmp_path: Path
) -> None:
    base = base_task(yard.client, yard.repo, unique("file"), pause=1.0)
    spec = grid_spec(base.id[:8], QUEUE, name="from a file", sampler="random", trials=8)
    spec["params"] = {"General/lr": "uniform(0.1,0.9)"}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))

    created = json.loads(
        cli(yard.server, "sweep", "create", "-f", str(path), "--parallel", "2", "--json").stdout
    )
    sweep_id = created["id"]
    assert (created["base"], created["parallel"], created["name"]) == (base.id, 2, "from a file")
    watch = subprocess.Popen(
        [str(RUNYARD), "sweep", "show", sweep_id, "--watch", "--interval", "0.3"],
        env={**os.environ, "RUNYARD_SERVER": yard.server.url, "RUNYARD_TOKEN": ""},
        stdout=subprocess.PIPE,
        text=True,
    )

    def running() -> int:
        return yard.client.sweeps.get(sweep_id).counts.running

    wait_for(lambda: running() == 2, 60, "two trials running")
    assert watch.stdout is not None
    first = watch.stdout.readline()  # the first frame has begun: the watch is on

    stopped = cli(yard.server, "sweep", "stop", sweep_id, "--reason", "enough for now").stdout
    rest, _ = watch.communicate(timeout=30)
    frames = first + rest
    again = cli(yard.server, "sweep", "stop", sweep_id, rc=1)

    assert stopped.strip() == f"sweep {sweep_id} stopped"
    assert first.startswith(f"sweep {sweep_id} 'from a file' ({base.project}): running")
    assert watch.returncode == 0 and frames.count(f"sweep {sweep_id}") >= 2
    assert "stopped, enough for now" in frames
    assert "is not running" in again.stderr
    wait_for(lambda: yard.client.sweeps.get(sweep_id).counts.running == 0, 60, "trials aborted")
    assert yard.client.sweeps.get(sweep_id).counts.aborted == 2

    resumed = cli(yard.server, "sweep", "resume", sweep_id).stdout
    assert resumed.strip() == f"sweep {sweep_id} running"
    wait_for(lambda: running() == 2, 60, "two trials running again")
    cli(yard.server, "sweep", "stop", sweep_id)


def test_a_param_the_base_never_recorded_is_refused_by_name(yard: Yard, tmp_path: Path) -> None:
    base = base_task(yard.client, yard.repo, unique("refused"))
    path = tmp_path / "sweep.yaml"
    spec = grid_spec(base.id[:8], "nowhere", params={"General/momentum": "choice(0.5,0.9)"})
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(InvalidError, match="General/momentum"):
        Sweep.from_file(path, {"queue": QUEUE}, server=yard.server.url)
    refused = cli(
        yard.server, "sweep", "create", base.id, "--param", "General/momentum=uniform(0,1)",
        "--objective", "val/acc", "--queue", QUEUE, rc=1,
    )  # fmt: skip
    malformed = cli(
        yard.server, "sweep", "create", base.id, "--param", "General/lr=gauss(0,1)",
        "--objective", "val/acc", "--queue", QUEUE, rc=2,
    )  # fmt: skip

    assert "General/momentum" in refused.stderr and "422" in refused.stderr
    assert "unknown distribution 'gauss'" in malformed.stderr
