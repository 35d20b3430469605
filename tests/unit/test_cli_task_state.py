"""``runyard task show`` says what the agent says of a running task, beside its status."""

from datetime import UTC, datetime

from runyard.cli.tasks import describe
from runyard.models import Task, TaskStatus


def _task(detail: str | None) -> Task:
    return Task(
        id="a" * 32,
        project="p",
        name="n",
        status=TaskStatus.RUNNING,
        created=datetime(2026, 11, 29, tzinfo=UTC),
        state_detail=detail,
    )


def test_task_show_has_a_state_line_while_the_agent_says_one() -> None:
    shown = describe(_task("pending in Slurm: Resources (job 42)")).splitlines()

    assert "state:       pending in Slurm: Resources (job 42)" in shown
    assert not any(line.startswith("state:") for line in describe(_task(None)).splitlines())
