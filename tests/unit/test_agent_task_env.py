"""What a task's entry point runs with: command line, directory, environment, failure reasons."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from runyard.models import Environment, GangRank, Script, Task, TaskStatus
from runyard_agent.errors import EnvironmentBuildError
from runyard_agent.runner import MAX_REASON_CHARS, script_failure_reason
from runyard_agent.slots import Allocation
from runyard_agent.task_env import task_command, task_environment

PYTHON = Path("/cache/venvs/abc/bin/python")


def make_task(**env: str) -> Task:
    return Task(
        id="a" * 32,
        status=TaskStatus.RUNNING,
        created=datetime.now(UTC),
        environment=Environment(env=env),
    )


def environment(
    token: str | None = "task-token", gpus: tuple[int, ...] = (), gang: GangRank | None = None
) -> dict[str, str]:
    base = {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "RUNYARD_TOKEN": "agent-token",
        "RUNYARD_AGENT_FAKE_GPUS": "2",
        "PYTHONHOME": "/elsewhere",
    }
    return task_environment(
        base,
        make_task(FOO="bar", RUNYARD_TASK_ID="spoofed", PYTHONUNBUFFERED="0"),
        python=PYTHON,
        allocation=Allocation(gpu_indices=gpus, cpus=0, memory_gb=0),
        server="http://srv:8008",
        token=token,
        gang=gang,
    )


def test_runyard_variables_win_over_the_task_env() -> None:
    env = environment()
    assert env["RUNYARD_TASK_ID"] == "a" * 32
    assert env["RUNYARD_SERVER"] == "http://srv:8008"
    assert env["RUNYARD_TOKEN"] == "task-token"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["FOO"] == "bar"


def test_a_rank_gets_what_torch_distributed_reads_and_one_node_task_none() -> None:
    gang = GangRank(rank=2, world_size=4, master_addr="10.0.0.7", master_port=29511)
    env = environment(gang=gang)
    assert {k: env[k] for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "NODE_RANK")} == {
        "RANK": "2",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "0",
        "NODE_RANK": "2",
    }
    assert (env["MASTER_ADDR"], env["MASTER_PORT"], env["LOCAL_WORLD_SIZE"]) == (
        "10.0.0.7",
        "29511",
        "1",
    )
    assert "RANK" not in environment() and "MASTER_ADDR" not in environment()


def test_gpus_become_cuda_visible_devices_and_none_is_empty() -> None:
    assert environment(gpus=(1, 3))["CUDA_VISIBLE_DEVICES"] == "1,3"
    assert environment()["CUDA_VISIBLE_DEVICES"] == ""
    assert environment()["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"


def test_the_venv_is_activated_and_agent_settings_stay_out() -> None:
    env = environment()
    assert env["PATH"] == "/cache/venvs/abc/bin:/usr/bin"
    assert env["VIRTUAL_ENV"] == "/cache/venvs/abc"
    assert "PYTHONHOME" not in env
    assert "RUNYARD_AGENT_FAKE_GPUS" not in env


def test_without_any_token_none_is_passed_on() -> None:
    assert "RUNYARD_TOKEN" not in environment(token=None)


def test_command_runs_the_entry_point_from_the_working_dir(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("")
    script = Script(entry_point="src/train.py", working_dir="src", args=["--lr", "0.1"])
    argv, cwd = task_command(script, tmp_path, PYTHON)
    assert argv == [str(PYTHON), str(tmp_path / "src" / "train.py"), "--lr", "0.1"]
    assert cwd == tmp_path / "src"


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (Script(), "no script.entry_point"),
        (Script(entry_point="missing.py"), "'missing.py' is not a file"),
        (Script(entry_point="train.py", working_dir="nope"), "'nope' is not a directory"),
    ],
)
def test_bad_entry_points_are_environment_failures(
    tmp_path: Path, script: Script, message: str
) -> None:
    (tmp_path / "train.py").write_text("")
    with pytest.raises(EnvironmentBuildError, match=message) as caught:
        task_command(script, tmp_path, PYTHON)
    assert caught.value.stage == "code"


def test_script_failure_reason_has_the_exit_and_the_last_lines() -> None:
    reason = script_failure_reason(2, ["Traceback", "ValueError: bad lr"])
    assert reason == "exit code 2; last output lines:\nTraceback\nValueError: bad lr"
    assert script_failure_reason(-9, []) == "killed by SIGKILL; the script printed nothing"


def test_script_failure_reason_fits_the_report_limit() -> None:
    reason = script_failure_reason(1, ["x" * 5000] * 20)
    assert len(reason) <= MAX_REASON_CHARS
    assert reason.startswith("exit code 1; last output lines:\n…")
