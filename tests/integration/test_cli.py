"""The real ``runyard`` CLI, as a subprocess, against a real ``runyard-server``.

Most tests share one server per module (starting one takes seconds); each uses its own
project, queue and worker names so they never see each other's records.
"""

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runyard.client import Client
from runyard.models import (
    ClaimRequest,
    Gpu,
    GpuState,
    GpuTask,
    Heartbeat,
    LogBatch,
    LogLine,
    MetricBatch,
    MetricPoint,
    Resources,
    WorkerRegister,
)
from tests.servers import ServerProcess

RUNYARD = Path(sys.executable).with_name("runyard")
UNKNOWN_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server for the module's tests."""
    data = tmp_path_factory.mktemp("cli-server")
    server = ServerProcess(data / "data", [], data / "server.log").start()
    yield server
    server.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def cli(server: ServerProcess, *args: str, rc: int = 0) -> subprocess.CompletedProcess[str]:
    """Run ``runyard ARGS`` against ``server``; assert its exit code."""
    env = {**os.environ, "RUNYARD_SERVER": server.url, "RUNYARD_TOKEN": ""}
    done = subprocess.run(
        [str(RUNYARD), *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == rc, f"runyard {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


def cli_json(server: ServerProcess, *args: str) -> Any:
    return json.loads(cli(server, *args, "--json").stdout)


def create(server: ServerProcess, name: str, *extra: str) -> dict[str, Any]:
    """A task with an entry point (a task without code cannot be queued)."""
    args = ("task", "create", "--name", name, "--script", "train.py", *extra)
    task: dict[str, Any] = cli_json(server, *args)
    return task


def test_create_then_list_and_show_it(live: ServerProcess) -> None:
    server, project = live, unique("vision")
    task = create(
        server, "resnet", "--project", project, "--script", "train.py", "--arg=--epochs",
        "--arg", "3", "--param", "General/lr=0.1", "--param", "General/opt=adam",
        "--param", "General/layers=[64,32]", "--requirement", "numpy==1.26.4", "--gpus", "1",
        "--nodes", "2", "--tag", "baseline",
    )  # fmt: skip
    assert task["status"] == "draft"

    table = cli(server, "task", "list", "--project", project).stdout
    header, row = table.splitlines()
    assert header.split()[:4] == ["ID", "STATUS", "PROJECT", "NAME"]
    assert row.split()[:4] == [task["id"], "draft", project, "resnet"]

    shown = cli_json(server, "task", "show", task["id"])
    assert shown["params"] == {"General": {"lr": 0.1, "opt": "adam", "layers": [64, 32]}}
    assert shown["script"]["args"] == ["--epochs", "3"]
    assert shown["environment"]["requirements"] == ["numpy==1.26.4"]
    assert (shown["resources"]["gpus"], shown["tags"]) == (1, ["baseline"])
    assert shown["resources"]["nodes"] == 2
    details = cli(server, "task", "show", task["id"]).stdout
    assert "General/lr:" in details and "train.py" in details
    assert "nodes:" in details and "2 (one rank per agent)" in details


def test_list_sorts_by_a_final_metric_and_searches_names(live: ServerProcess) -> None:
    server, project = live, unique("sorted")
    ids = {
        name: create(server, name, "--project", project)["id"]
        for name in ("Alpha", "beta", "Gamma")
    }
    client = Client(server.url, token="")
    for name, value in (("Alpha", 0.5), ("beta", 0.9)):
        batch = MetricBatch(points=[MetricPoint(series="val/acc", value=value, ts=time.time())])
        client.metrics.append(ids[name], batch)

    table = cli(server, "task", "list", "--project", project, "--sort", "metric:val/acc").stdout
    header, *rows = table.splitlines()
    assert header.split()[-1] == "VAL/ACC"
    assert [row.split()[0] for row in rows] == [ids["beta"], ids["Alpha"], ids["Gamma"]]
    assert [row.split()[-1] for row in rows] == ["0.9", "0.5", "-"]
    ascending = cli_json(server, "task", "list", "--project", project, "--sort", "name")
    assert [t["name"] for t in ascending] == ["Alpha", "beta", "Gamma"]
    found = cli_json(server, "task", "list", "--project", project, "--search", "AMM")
    assert [t["id"] for t in found] == [ids["Gamma"]]
    done = cli(server, "task", "list", "--sort", "size", rc=1)
    assert "422" in done.stderr and "metric:SERIES" in done.stderr


def test_clone_overrides_one_param_and_keeps_the_rest(live: ServerProcess) -> None:
    server = live
    parent = create(server, "base", "--param", "General/lr=0.1", "--param", "General/bs=32")
    clone = cli_json(
        server, "task", "clone", parent["id"], "--name", "lower-lr", "--param", "General/lr=0.01"
    )
    assert clone["parent"] == parent["id"]
    assert clone["name"] == "lower-lr"
    assert clone["status"] == "draft"
    assert clone["params"] == {"General": {"lr": 0.01, "bs": 32}}
    listed = cli_json(server, "task", "list", "--parent", parent["id"])
    assert [t["id"] for t in listed] == [clone["id"]]


def test_queue_show_lists_waiting_tasks_by_priority_then_fifo(live: ServerProcess) -> None:
    server, queue = live, unique("gpu")
    first, urgent, second = (create(server, name) for name in ("first", "urgent", "second"))
    cli(server, "task", "enqueue", first["id"], "--queue", queue, "--create-queue")
    cli(server, "task", "enqueue", urgent["id"], "--queue", queue, "--priority", "5")
    cli(server, "task", "enqueue", second["id"], "--queue", queue)

    detail = cli_json(server, "queue", "show", queue)
    assert [e["task_id"] for e in detail["entries"]] == [urgent["id"], first["id"], second["id"]]
    rows = cli(server, "queue", "show", queue).stdout.splitlines()
    assert [line.split()[2] for line in rows[2:]] == ["urgent", "first", "second"]
    queues = cli_json(server, "queue", "list")
    assert {"name": queue, "depth": 3} in [{k: q[k] for k in ("name", "depth")} for q in queues]


def test_dequeue_takes_the_task_off_its_queue(live: ServerProcess) -> None:
    server, queue = live, unique("cpu")
    task = create(server, "t", "--queue", queue, "--create-queue")
    assert task["status"] == "queued"
    out = cli(server, "task", "dequeue", task["id"]).stdout
    assert out.startswith(f"dequeued {task['id']}") and "draft" in out
    assert cli_json(server, "queue", "show", queue)["entries"] == []


def test_abort_of_a_queued_task_is_immediate(live: ServerProcess) -> None:
    server, queue = live, unique("cpu")
    task = create(server, "t", "--queue", queue, "--create-queue")
    aborted = cli_json(server, "task", "abort", task["id"])
    assert aborted["status"] == "aborted"
    assert cli_json(server, "queue", "show", queue)["depth"] == 0


def test_unknown_task_is_a_one_line_error(live: ServerProcess) -> None:
    server = live
    done = cli(server, "task", "show", UNKNOWN_ID, rc=1)
    assert done.stdout == ""
    assert done.stderr.startswith("runyard: error:")
    assert "404" in done.stderr and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_illegal_transition_names_the_conflict(live: ServerProcess) -> None:
    server = live
    task = create(server, "t")
    done = cli(server, "task", "dequeue", task["id"], rc=1)
    assert "409" in done.stderr and "draft" in done.stderr


def test_queue_create_delete_and_refusal_while_tasks_wait(live: ServerProcess) -> None:
    server, empty, busy = live, unique("empty"), unique("busy")
    assert f"created queue {empty}" in cli(server, "queue", "create", empty).stdout
    assert "409" in cli(server, "queue", "create", empty, rc=1).stderr
    cli(server, "queue", "delete", empty)
    assert empty not in [q["name"] for q in cli_json(server, "queue", "list")]
    create(server, "waiting", "--queue", busy, "--create-queue")
    assert "409" in cli(server, "queue", "delete", busy, rc=1).stderr


def test_worker_list_shows_a_registered_agent(live: ServerProcess) -> None:
    server, name = live, unique("box")
    with Client(server.url) as client:
        client.workers.register(
            WorkerRegister(
                name=name, hostname="box1.lan", queues=["gpu"], resources=Resources(gpus=2)
            )
        )
    header, *rows = cli(server, "worker", "list").stdout.splitlines()
    columns = ["NAME", "HOST", "QUEUES", "RESOURCES", "RUNNING", "HEARTBEAT", "ALIVE"]
    assert header.split() == columns
    (row,) = [r for r in rows if r.startswith(name)]
    assert "box1.lan" in row and "2 GPU" in row
    assert row.split()[-1] == "yes"
    assert name in [w["name"] for w in cli_json(server, "worker", "list")]


def test_worker_list_shows_each_gpu_with_peers_busy_and_tasks(live: ServerProcess) -> None:
    server, name, task_id = live, unique("gpubox"), "ab12cd34" * 4
    a100 = {"name": "NVIDIA A100-SXM4-80GB", "memory_gb": 80}
    with Client(server.url) as client:
        worker = client.workers.register(
            WorkerRegister(
                name=name,
                queues=["gpu"],
                resources=Resources(gpus=3),
                gpus=[Gpu(index=0, peers=[1], **a100), Gpu(index=1, peers=[0], **a100),
                      Gpu(index=2, name="Tesla T4", memory_gb=15)],
            )
        )  # fmt: skip
        state = [
            GpuState(index=0, tasks=[GpuTask(task_id=task_id, share=0.5)]),
            GpuState(index=1, busy=True, foreign_mb=4096),
            GpuState(index=2),
        ]
        client.workers.heartbeat(worker.id, Heartbeat(gpu_state=state))
        # A beat without GPU state (nothing changed) keeps what the last one said.
        client.workers.heartbeat(worker.id, Heartbeat())

    text = cli(server, "worker", "list").stdout
    gpu_header = next(line for line in text.splitlines() if line.startswith("WORKER"))
    assert gpu_header.split() == [
        "WORKER", "GPU", "MODEL", "MEMORY", "NVLINK", "STATE", "FOREIGN", "TASKS"
    ]  # fmt: skip
    # Columns are two or more spaces apart; the worker's own row comes first.
    rows = [re.split(r"\s{2,}", line) for line in text.splitlines() if line.startswith(name)]
    assert rows[1:] == [
        [name, "0", "NVIDIA A100-SXM4-80GB", "80 GB", "1", "in use", "-", "ab12cd34 (0.5)"],
        [name, "1", "NVIDIA A100-SXM4-80GB", "80 GB", "0", "busy", "4096 MiB", "-"],
        [name, "2", "Tesla T4", "15 GB", "-", "free", "-", "-"],
    ]
    (shown,) = [w for w in cli_json(server, "worker", "list") if w["name"] == name]
    assert shown["gpu_state"][1] == {"index": 1, "busy": True, "foreign_mb": 4096, "tasks": []}
    assert shown["gpus"][0]["peers"] == [1]


def test_logs_print_lines_and_follow_stops_when_the_task_ends(live: ServerProcess) -> None:
    server = live
    task = create(server, "t")
    with Client(server.url) as client:
        lines = [LogLine(text=f"epoch {i}", ts=time.time()) for i in range(3)]
        client.logs.append(task["id"], LogBatch(seq=0, lines=lines))
    assert cli(server, "task", "logs", task["id"]).stdout == "epoch 0\nepoch 1\nepoch 2\n"
    cli(server, "task", "abort", task["id"])
    assert cli(server, "task", "logs", task["id"], "--follow").stdout.count("epoch") == 3
    assert cli(server, "task", "logs", task["id"], "--all").stdout == "epoch 0\nepoch 1\nepoch 2\n"
    assert cli(server, "task", "logs", task["id"], "--tail", "2").stdout == "epoch 1\nepoch 2\n"


def test_purge_deletes_only_tasks_finished_before_the_age(live: ServerProcess) -> None:
    server, project = live, unique("purge")
    task = create(server, "old", "--project", project)
    cli(server, "task", "abort", task["id"])

    dry = cli(server, "task", "purge", "--older-than", "30d", "--project", project, "--dry-run")
    assert dry.stdout == "would delete 0 task(s)\n"
    cli(server, "task", "purge", "--older-than", "soon", rc=2)
    time.sleep(1.1)
    done = cli(server, "task", "purge", "--older-than", "0.0002h", "--project", project)
    assert done.stdout == f"{task['id']}\ndeleted 1 task(s)\n"
    cli(server, "task", "show", task["id"], rc=1)


def test_empty_listings_print_only_headers(server: ServerProcess) -> None:
    for argv in (["task", "list"], ["queue", "list"], ["worker", "list"]):
        assert len(cli(server, *argv).stdout.splitlines()) == 1
        assert cli_json(server, *argv) == []


def test_task_move_puts_a_queued_task_on_another_queue(live: ServerProcess) -> None:
    server, source, target = live, unique("from"), unique("to")
    task = create(server, "mover", "--queue", source, "--create-queue")
    cli(server, "queue", "create", target)

    moved = cli_json(server, "task", "move", task["id"], "--queue", target)

    assert moved["queue"] == target and moved["status"] == "queued"
    done = cli(server, "task", "move", task["id"], "--queue", unique("missing"), rc=1)
    assert "does not exist" in done.stderr
    shown = cli(server, "task", "move", task["id"], "--queue", source, "--priority", "3").stdout
    assert f"moved {task['id']}" in shown and f"queued on {source}" in shown


def test_list_sorts_by_a_metric_minimum(live: ServerProcess) -> None:
    server, project = live, unique("lowest")
    dips, flat = (create(server, n, "--project", project)["id"] for n in ("dips", "flat"))
    client = Client(server.url, token="")
    for task_id, values in ((dips, (2.0, 0.1, 1.0)), (flat, (0.5, 0.5, 0.5))):
        points = [MetricPoint(series="loss", value=v, ts=time.time()) for v in values]
        client.metrics.append(task_id, MetricBatch(points=points))

    table = cli(server, "task", "list", "--project", project, "--sort", "metric_min:loss")
    header, *rows = table.stdout.splitlines()
    assert header.split()[-2:] == ["LOSS", "(MIN)"]
    assert [row.split()[0] for row in rows] == [flat, dips]  # descending by default
    assert [row.split()[-1] for row in rows] == ["0.5", "0.1"]


def test_queue_set_changes_limits_and_list_shows_them_with_what_runs(live: ServerProcess) -> None:
    server, queue = live, unique("limited")
    cli(server, "queue", "create", queue)
    changed = cli_json(
        server, "queue", "set", queue, "--max-running", "2", "--max-gpus", "1.5", "--preemptible"
    )
    assert (changed["max_running"], changed["max_gpus"], changed["preemptible"]) == (2, 1.5, True)
    first = create(server, "first", "--queue", queue, "--gpus", "1")
    create(server, "second", "--queue", queue, "--gpus", "1")
    with Client(server.url, token="") as client:
        plenty = Resources(gpus=4, cpus=4, memory_gb=8)
        worker = client.workers.register(WorkerRegister(name="w", queues=[queue], resources=plenty))
        claimed = client.workers.claim(worker.id, ClaimRequest(queues=[queue], free=plenty))
        assert claimed.task is not None and claimed.task.id == first["id"]
        # 1 + 1 GPUs would pass max_gpus 1.5: the second waits, though the agent has room.
        held = client.workers.claim(worker.id, ClaimRequest(queues=[queue], free=plenty))
        assert held.task is None

    shown = cli(server, "queue", "show", queue).stdout.splitlines()[0]
    assert shown.endswith("; running 1/2, GPUs 1/1.5, preemptible"), shown
    rows = {row.split()[0]: row.split() for row in cli(server, "queue", "list").stdout.splitlines()}
    assert rows["NAME"][-3:] == ["RUNNING", "GPUS", "PREEMPTIBLE"]
    assert rows[queue][-3:] == ["1/2", "1/1.5", "yes"]

    # Only the options given change; none clears a limit.
    cli(server, "queue", "set", queue, "--max-running", "none", "--no-preemptible")
    listed = {q["name"]: q for q in cli_json(server, "queue", "list")}[queue]
    assert (listed["max_running"], listed["max_gpus"], listed["preemptible"]) == (None, 1.5, False)
    assert (listed["running"], listed["gpus_in_use"], listed["depth"]) == (1, 1.0, 1)
    assert "not a number" in cli(server, "queue", "set", queue, "--max-gpus", "lots", rc=2).stderr
    assert "--max-running" in cli(server, "queue", "set", queue, rc=2).stderr
    assert (
        "does not exist"
        in cli(server, "queue", "set", unique("nowhere"), "--max-running", "1", rc=1).stderr
    )
