"""``runyard sweep`` without a server: a spec from flags and a YAML file, ranking, output."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runyard.cli.common import UsageError
from runyard.cli.main import build_parser
from runyard.cli.sweep_show import describe, ranked
from runyard.cli.sweeps import spec_fields
from runyard.models import Sweep, SweepCreate, SweepTrial, TrialStatus

BASE = "0123456789abcdef0123456789abcdef"
SWEEP = "fedcba9876543210fedcba9876543210"
T0 = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)


def fields(*argv: str) -> dict[str, object]:
    return spec_fields(build_parser().parse_args(["sweep", "create", *argv]))


def test_the_issue_command_line_makes_a_valid_spec() -> None:
    got = fields(
        BASE,
        "--param", "Args/lr=loguniform(1e-4,1e-1)", "--param", "Args/batch_size=choice(32,64,128)",
        "--param", "Args/dropout=uniform(0,0.5)", "--param", "Args/layers=int(1,4)",
        "--objective", "val/acc", "--direction", "max", "--trials", "60", "--parallel", "8",
        "--queue", "gpu", "--sampler", "tpe", "--pruner", "median", "--max-time", "6h",
        "--pruner-option", "n_warmup_steps=2",
    )  # fmt: skip
    spec = SweepCreate.model_validate(got)

    assert spec.params["Args/batch_size"] == "choice(32,64,128)"
    assert (spec.trials, spec.parallel, spec.direction, spec.queue) == (60, 8, "max", "gpu")
    assert spec.max_time_s == pytest.approx(6 * 3600)
    assert spec.pruner_options.n_warmup_steps == 2
    assert spec.space()["Args/lr"].kind == "loguniform"


def test_flags_override_the_file_and_params_add_to_its_params(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(
        f"base: {BASE}\n"
        "params:\n  Args/lr: loguniform(1e-4,1e-1)\n  Args/layers: int(1,4)\n"
        "objective: val/acc\ndirection: max\ntrials: 10\nqueue: cpu\n"
        "pruner: median\npruner_options:\n  n_startup_trials: 3\n"
    )
    got = fields(
        "-f", str(path), "--queue", "gpu", "--param", "Args/layers=int(1,8)",
        "--param", "Args/wd=uniform(0,0.1)", "--pruner-option", "n_warmup_steps=1",
    )  # fmt: skip
    spec = SweepCreate.model_validate(got)

    assert spec.queue == "gpu" and spec.trials == 10 and spec.direction == "max"
    assert spec.params == {
        "Args/lr": "loguniform(1e-4,1e-1)",
        "Args/layers": "int(1,8)",
        "Args/wd": "uniform(0,0.1)",
    }
    assert (spec.pruner_options.n_startup_trials, spec.pruner_options.n_warmup_steps) == (3, 1)


COMPLETE = [BASE, "--param", "A/x=uniform(0,1)", "--objective", "x", "--queue", "q"]


COMPLETE = [BASE, "--param", "A/x=uniform(0,1)", "--objective", "x", "--queue", "q"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([BASE, "--objective", "loss", "--queue", "q"], "give params"),
        ([BASE, "--param", "Args/lr=uniform(0,1)", "--queue", "q"], "give objective"),
        (["--param", "lr=uniform(0,1)", "--objective", "x", "--queue", "q"], "Section/key=DIST"),
        ([*COMPLETE, "--pruner-option", "oops"], "KEY=VALUE"),
        ([*COMPLETE, "--max-time", "soon"], "--max-time 'soon'"),
        (["-f", "/nonexistent/sweep.yaml"], "-f /nonexistent/sweep.yaml"),
    ],
)
def test_an_incomplete_or_malformed_spec_is_a_usage_error(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        fields(*argv)


def test_a_file_that_is_not_a_mapping_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(UsageError, match="expected a mapping of sweep fields"):
        fields("-f", str(path))


def _trial(number: int, status: TrialStatus, value: float | None, **extra: object) -> SweepTrial:
    return SweepTrial(
        number=number,
        task_id=f"{number:032x}",
        params={"Args/lr": 0.001 * (number + 1), "Args/opt": "adam"},
        status=status,
        value=value,
        step=None if value is None else 4,
        created=T0 + timedelta(minutes=number),
        finished=None if status is TrialStatus.RUNNING else T0 + timedelta(minutes=number + 3),
        **extra,  # type: ignore[arg-type]
    )


def _sweep(direction: str, best: int | None, value: float | None = None) -> Sweep:
    return Sweep.model_validate(
        {
            "id": SWEEP,
            "base": BASE,
            "name": "lr search",
            "project": "vision",
            "params": {"Args/lr": "loguniform(1e-4,1e-1)", "Args/opt": "choice(adam,sgd)"},
            "objective": "val/acc",
            "direction": direction,
            "trials": 6,
            "parallel": 2,
            "queue": "gpu",
            "status": "running",
            "created": T0,
            "counts": {"completed": 3, "pruned": 1, "running": 1, "aborted": 1},
            "best": None
            if best is None
            else {"number": best, "task_id": f"{best:032x}", "value": value, "params": {}},
        }
    )


TRIALS = [
    _trial(0, TrialStatus.COMPLETED, 0.7),
    _trial(1, TrialStatus.PRUNED, 0.2, reason="pruned at step 1 by median"),
    _trial(2, TrialStatus.COMPLETED, 0.9),
    _trial(3, TrialStatus.RUNNING, None),
    _trial(4, TrialStatus.ABORTED, 0.95),
    _trial(5, TrialStatus.COMPLETED, 0.5),
]


def test_trials_rank_by_objective_in_the_sweeps_direction_unscored_last() -> None:
    assert [t.number for t in ranked(_sweep("max", 2, 0.9), TRIALS)] == [2, 0, 5, 1, 3, 4]
    assert [t.number for t in ranked(_sweep("min", 1, 0.2), TRIALS)] == [1, 5, 0, 2, 3, 4]


def test_show_marks_the_best_and_prints_params_status_step_and_time() -> None:
    text = describe(_sweep("max", 2, 0.9), TRIALS, now=T0 + timedelta(minutes=10))
    lines = text.splitlines()
    table = lines[lines.index("") + 1 :]

    assert "best: trial 2 (task 00000000000000000000000000000002) val/acc=0.9" in text
    assert "4/6 trials done: 3 completed, 1 pruned, 0 failed; 1 running" in text
    assert table[0].split()[:7] == ["RANK", "TRIAL", "TASK", "STATUS", "VAL/ACC", "STEP", "TIME"]
    assert table[1].split()[:9] == ["1*", "2", "00000000", "completed", "0.9", "4", "3m", "0.003",
                                    "adam"]  # fmt: skip
    assert table[4].split()[3] == "pruned" and "pruned at step 1 by median" in table[4]
    assert table[5].split()[:7] == ["5", "3", "00000000", "running", "-", "-", "7m"]


def test_show_without_trials_says_so() -> None:
    assert describe(_sweep("max", None), []).endswith("best: none yet\nno trials yet")
