"""A local run's console on a real server: recorded at Task.init, every line once and in
order at any print rate, spooled to disk while the server is down, drops counted past
the spool quota and shown by ``runyard task show``."""

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.client import Client
from runyard.logship import Spool
from runyard.models import Task, TaskCreate, TaskStatus
from tests.servers import ServerProcess

RUNYARD = Path(sys.executable).with_name("runyard")

# argv: PROJECT LINES WIDTH. Prints LINES numbered lines as fast as Python can, in two
# halves; between them it waits for the test (files in the working directory) when told.
SCRIPT = """\
import pathlib, sys, time
from runyard import Task, Client

project, lines, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
here = pathlib.Path(".")
task = Task.init(project=project, name="console", requirements=[])
client = Client(timeout=2)
deadline = time.monotonic() + 10
while not client.tasks.list(project=project).items and time.monotonic() < deadline:
    time.sleep(0.02)
seen = bool(client.tasks.list(project=project).items)
print("recorded without being asked:", seen, file=sys.stderr, flush=True)

def wait_for(name):
    (here / "waiting").write_text(name)
    while not (here / name).exists():
        time.sleep(0.02)

pad = "x" * width
if (here / "pause").exists():
    wait_for("stopped")
for i in range(lines):
    print(f"{i:07d} {pad}")
if (here / "pause").exists():
    sys.stdout.flush()
    wait_for("back")
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "data", [], tmp_path / "server.log").start()
    yield server
    server.stop()


def start(
    server: ServerProcess, tmp_path: Path, lines: int, width: int, **env: str
) -> tuple[subprocess.Popen[str], str]:
    project = f"p-{uuid.uuid4().hex[:8]}"
    script = tmp_path / "console.py"
    script.write_text(SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script), project, str(lines), str(width)],
        cwd=tmp_path,
        env={"RUNYARD_SERVER": server.url, "PATH": "/usr/bin:/bin", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, project


def wait_file(path: Path, text: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not (path.exists() and path.read_text() == text):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"the script never waited for {text!r}"
        time.sleep(0.05)


def finished_task(
    server: ServerProcess, project: str, process: subprocess.Popen[str]
) -> tuple[Task, str]:
    _, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    assert "recorded without being asked: True" in err, err
    with Client(server.url) as client:
        (task,) = client.tasks.list(project=project).items
    assert task.status is TaskStatus.COMPLETED
    return task, err


def numbered(server: ServerProcess, task_id: str) -> tuple[list[int], list[str]]:
    """The numbers of the script's lines in stored order, and the other lines."""
    numbers: list[int] = []
    others: list[str] = []
    with Client(server.url) as client:
        cursor = None
        while page := client.logs.read(task_id, after=cursor, limit=1000):
            if not page.lines:
                break
            for line in page.lines:
                head = line.text[:7]
                if head.isdigit():
                    numbers.append(int(head))
                else:
                    others.append(line.text)
            cursor = page.cursor
    return numbers, others


def test_200k_lines_as_fast_as_python_prints_are_all_stored_once_in_order(
    server: ServerProcess, tmp_path: Path
) -> None:
    process, project = start(server, tmp_path, 200_000, 0)
    task, err = finished_task(server, project, process)
    numbers, others = numbered(server, task.id)
    assert numbers == list(range(200_000))
    assert not [text for text in others if text.startswith("[runyard]")]
    assert task.started is not None and task.finished is not None
    assert task.started < task.finished and task.logs_dropped == 0
    assert "cannot reach" not in err and "dropped" not in err, err


def test_server_stopped_10s_mid_run_spools_and_stores_every_line_once_in_order(
    server: ServerProcess, tmp_path: Path
) -> None:
    (tmp_path / "pause").touch()
    spool = tmp_path / "spool"
    process, project = start(server, tmp_path, 200_000, 100, RUNYARD_SPOOL_DIR=str(spool))
    wait_file(tmp_path / "waiting", "stopped", process)
    server.stop()
    stopped_at = time.monotonic()
    (tmp_path / "stopped").touch()
    wait_file(tmp_path / "waiting", "back", process)
    assert any(spool.glob("runyard-spool-*/*")), "past 4 MB the lines wait on disk"
    time.sleep(max(0.0, 10 - (time.monotonic() - stopped_at)))
    server.start()
    (tmp_path / "back").touch()
    task, _ = finished_task(server, project, process)
    numbers, _ = numbered(server, task.id)
    assert numbers == list(range(200_000))
    assert task.logs_dropped == 0
    assert list(spool.iterdir()) == []


def test_past_a_tiny_spool_quota_the_drop_count_is_recorded_and_shown(
    server: ServerProcess, tmp_path: Path
) -> None:
    (tmp_path / "pause").touch()
    process, project = start(
        server, tmp_path, 100_000, 100, RUNYARD_SPOOL_QUOTA_MB="0", RUNYARD_SPOOL_DIR=str(tmp_path)
    )
    wait_file(tmp_path / "waiting", "stopped", process)
    server.stop()
    (tmp_path / "stopped").touch()
    wait_file(tmp_path / "waiting", "back", process)
    server.start()
    (tmp_path / "back").touch()
    task, err = finished_task(server, project, process)
    numbers, others = numbered(server, task.id)
    others = [text for text in others if text.startswith("[runyard]")]
    assert task.logs_dropped > 0 and f"{task.logs_dropped} console lines were dropped" in err
    missing = 100_000 - len(numbers)
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    # The SDK's own notices on stderr (server unreachable, back again) are console
    # lines too, and may be among the dropped ones.
    assert missing <= task.logs_dropped <= missing + 10
    assert [note.split()[1] for note in others] == [str(task.logs_dropped)]
    assert "lines dropped here" in others[0]
    shown = subprocess.run(
        [str(RUNYARD), "task", "show", task.id],
        env={"RUNYARD_SERVER": server.url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"dropped lines: {task.logs_dropped} (spool quota reached)" in shown


def test_logs_follow_a_local_run_live(server: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "pause").touch()
    process, project = start(server, tmp_path, 3, 0)
    wait_file(tmp_path / "waiting", "stopped", process)
    (tmp_path / "stopped").touch()
    with Client(server.url) as client:
        (task,) = client.tasks.list(project=project).items
        followed = client.logs.follow(task.id, poll_s=0.05)
        seen: list[str] = []
        for line in followed:
            if line.text[:7].isdigit():
                seen.append(line.text[:7])
            if len(seen) == 3:
                break
        # The script waits for "back" after its lines: they were followed while it ran.
        running = client.tasks.get(task.id).status is TaskStatus.RUNNING
        (tmp_path / "back").touch()
        finished_task(server, project, process)
    assert seen == ["0000000", "0000001", "0000002"] and running


def test_batches_cut_by_the_shared_helper_are_never_too_large_for_the_server(
    server: ServerProcess,
) -> None:
    spool = Spool()
    # Control characters are escaped to 6 bytes each: a batch estimated by characters
    # (as 0.1's SDK did) came out several times over the server's limit.
    spool.put_many("stdout", ["\x01" * 16_000 for _ in range(40)])
    spool.put_many("stderr", ["naïve ☃ 🙂 " * 1_000 for _ in range(40)])
    spool.put_many("stdout", [str(i) for i in range(25_000)])
    spool.finish()
    with Client(server.url) as client:
        claim = client.tasks.start_local(TaskCreate(project="limits", name="batches"))
        assert claim.task is not None
        seq = 0
        while (chunk := spool.next_chunk(0)) is not None:
            assert client.logs.append_encoded(claim.task.id, chunk.body(seq, claim.lease_token))
            spool.release()
            seq += 1
        lines = client.logs.read(claim.task.id, limit=100).lines
    assert seq > 4 and lines[0].text == "\x01" * 16_000
