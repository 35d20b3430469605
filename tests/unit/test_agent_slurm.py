"""The Slurm executor's pure parts: squeue lines, how an ended job is reported, the batch
script, job names, node capacity, and a scheduler's slots."""

import sys
from pathlib import Path

import pytest

from runyard.models import FailureKind, Resources, Script, Task, TaskStatus
from runyard_agent.config import AgentSettings
from runyard_agent.executors.slurm.cluster import parse_node
from runyard_agent.executors.slurm.commands import JobState, parse_squeue
from runyard_agent.executors.slurm.follow import FileFollower
from runyard_agent.executors.slurm.job import ending_for
from runyard_agent.executors.slurm.jobdir import batch_script, job_name, parse_job_name
from runyard_agent.executors.slurm.node import ranks_argv
from runyard_agent.executors.slurm.rank import rank_environment
from runyard_agent.resources import Machine
from runyard_agent.slots import SCHEDULED_SLOTS, SlotPool


def task(**resources: float) -> Task:
    return Task.model_validate(
        {
            "id": "ab" * 16,
            "project": "p",
            "name": "n",
            "status": TaskStatus.RUNNING,
            "created": "2026-11-29T00:00:00Z",
            "attempt": 2,
            "script": Script(entry_point="train.py; rm -rf /").model_dump(),
            "resources": Resources(**resources).model_dump(),
        }
    )


def state(name: str, reason: str = "None") -> JobState:
    return JobState("42", "ry.a.b.1", name, reason, "node1")


def test_squeue_lines_parse_and_ended_states_are_told_apart() -> None:
    out = "7\try.a.x.1\tPENDING\tResources\t\n8\tother\tTIMEOUT\tTimeLimit\tn1\nbroken line\n"
    jobs = parse_squeue(out)
    assert [(j.job_id, j.state, j.reason) for j in jobs] == [
        ("7", "PENDING", "Resources"),
        ("8", "TIMEOUT", "TimeLimit"),
    ]
    assert [j.ended for j in jobs] == [False, True]


@pytest.mark.parametrize("slurm_state", ["NODE_FAIL", "PREEMPTED", "BOOT_FAIL"])
def test_a_node_failure_or_preemption_requeues_the_task(slurm_state: str) -> None:
    ending = ending_for("42", state(slurm_state), None, None, cancelled=False)
    assert ending is not None and ending.requeue
    assert slurm_state in ending.reason and "back to its queue" in ending.reason


def test_a_time_limit_fails_with_slurms_reason_even_when_the_script_exited_on_sigterm() -> None:
    ending = ending_for("42", state("TIMEOUT", "TimeLimit"), -15, None, cancelled=False)
    assert ending is not None and not ending.requeue
    assert ending.reason == "Slurm ended job 42: it reached its time limit (TIMEOUT, TimeLimit)"


def test_a_cancel_from_outside_is_reported_and_ours_is_not() -> None:
    outside = ending_for("42", state("CANCELLED"), None, None, cancelled=False)
    assert outside is not None and "from outside Runyard" in outside.reason
    assert ending_for("42", state("CANCELLED"), -9, None, cancelled=True) is None


def test_an_exit_code_is_the_whole_story_and_a_build_failure_is_the_environments() -> None:
    assert ending_for("42", state("FAILED"), 3, None, cancelled=False) is None
    assert ending_for("42", None, 0, None, cancelled=False) is None
    failed = {"stage": "install", "message": "no such package"}
    ending = ending_for("42", state("FAILED"), None, failed, cancelled=False)
    assert ending is not None and ending.kind is FailureKind.ENVIRONMENT
    assert ending.reason == "install: no such package"
    vanished = ending_for("42", None, None, None, cancelled=False)
    assert vanished is not None and "no longer lists job 42" in vanished.reason


def test_the_batch_script_takes_numbers_from_the_task_and_options_from_the_operator(
    tmp_path: Path,
) -> None:
    settings = AgentSettings(
        name="login1",
        cache_dir=tmp_path,
        slurm_partition="gpu",
        slurm_account="lab",
        slurm_qos="normal",
        slurm_sbatch_lines=["--constraint=a100"],
        slurm_time_limit_s=3700,
    )
    needs = task(gpus=2, cpus=3.5, memory_gb=1.5, nodes=3)
    script = batch_script(settings, needs, tmp_path, Path("/py"))
    lines = script.splitlines()
    for wanted in (
        "#SBATCH --nodes=3",
        "#SBATCH --ntasks-per-node=1",
        f"#SBATCH --job-name=ry.login1.{'ab' * 16}.2",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=1536M",
        "#SBATCH --gres=gpu:2",
        "#SBATCH --time=61:40",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=lab",
        "#SBATCH --qos=normal",
        "#SBATCH --constraint=a100",
        f"exec /py -m runyard_agent.executors.slurm.node {tmp_path}",
    ):
        assert wanted in lines, script
    # The entry point (a task's string) never reaches the script.
    assert "rm -rf" not in script


def test_a_ranks_variables_come_from_slurms_and_srun_starts_one_per_node() -> None:
    slurm = {"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "0", "SLURM_NODEID": "3"}

    assert rank_environment(slurm) == {
        "RANK": "3",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "0",
        "LOCAL_WORLD_SIZE": "1",
        "NODE_RANK": "3",
    }
    argv = ranks_argv(["/venv/bin/python", "-u", "train.py"])
    rank = [sys.executable, "-m", "runyard_agent.executors.slurm.rank"]
    assert argv == ["srun", "--kill-on-bad-exit=1", *rank, "/venv/bin/python", "-u", "train.py"]


def test_job_names_carry_the_agent_the_task_and_the_attempt(tmp_path: Path) -> None:
    settings = AgentSettings(name="login.1", cache_dir=tmp_path)
    name = job_name(settings, task())
    assert parse_job_name(name, "login.1") == ("ab" * 16, 2)
    assert parse_job_name(name, "login") is None
    assert parse_job_name("ry.login.1.nope", "login.1") is None


def test_the_largest_node_line_is_read_with_its_gpus() -> None:
    assert parse_node("64|512000|gpu:a100:4(S:0-1)") == (64, 512000, 4, "a100")
    assert parse_node("8+|16000|(null)") == (8, 16000, 0, "")
    assert parse_node("16|32000|gpu:2,shard:8") == (16, 32000, 2, "gpu")


def test_a_scheduler_slot_offers_the_whole_node_while_jobs_are_submitted() -> None:
    pool = SlotPool(Machine(gpus=(), cpus=8, memory_gb=32, scheduled=True))
    assert pool.slots == SCHEDULED_SLOTS
    held = [pool.acquire(Resources(cpus=8, memory_gb=32)) for _ in range(3)]
    assert all(a is not None and a.gpu_indices == () for a in held)
    assert pool.free() == Resources(cpus=8, memory_gb=32)
    assert pool.acquire(Resources(cpus=9)) is None


def test_a_follower_copies_what_is_appended_from_its_offset_and_ends_at_finish(
    tmp_path: Path,
) -> None:
    out = tmp_path / "stdout"
    out.write_bytes(b"shipped before\n")
    follower = FileFollower(out, offset=len(b"shipped before\n"))
    follower.start()
    with out.open("ab") as job:
        job.write(b"line 1\n")
        job.flush()
        job.write(b"line 2\n")
    follower.finish()
    assert follower.read_end.read() == b"line 1\nline 2\n"
    assert follower.offset == out.stat().st_size


def test_a_stopped_follower_says_how_far_it_copied(tmp_path: Path) -> None:
    out = tmp_path / "stdout"
    follower = FileFollower(out)
    follower.stop()  # never started: a job left to Slurm while it was pending
    assert follower.read_end.read() == b"" and follower.offset == 0
