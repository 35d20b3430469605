"""Scripts using ``Task.init`` run locally, as subprocesses, against a real server."""

import json
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard import Task
from runyard.client import Client
from runyard.models import Resources, TaskCreate, TaskStatus
from tests.sdk_support import make_repo, run_script
from tests.servers import ServerProcess

RUNYARD = Path(sys.executable).with_name("runyard")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server for the module; tests keep apart by project names."""
    data = tmp_path_factory.mktemp("sdk-server")
    server = ServerProcess(data / "data", [], data / "server.log").start()
    yield server
    server.stop()


@pytest.fixture
def client(live: ServerProcess) -> Iterator[Client]:
    with Client(live.url) as client:
        yield client


def project() -> str:
    return f"p-{uuid.uuid4().hex[:8]}"


def only_task(client: Client, name: str) -> Task:
    tasks = client.tasks.list(project=name).items
    assert len(tasks) == 1, tasks
    return Task.get(tasks[0].id, server=client.server)


def test_local_run_records_code_params_metrics_artifact_and_output(
    live: ServerProcess, client: Client, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    name = project()
    done = run_script(repo / "train.py", name, "ok", "--bs", "16", server_url=live.url)
    assert done.returncode == 0, done.stderr
    assert "RunyardWarning" not in done.stderr
    task = only_task(client, name)
    record = task.record
    assert record.status is TaskStatus.COMPLETED and record.exit_code == 0
    assert record.worker is None
    script = record.script
    assert (script.repository, script.branch, script.entry_point) == (str(repo), "main", "train.py")
    assert script.args == [name, "ok", "--bs", "16"]
    assert '+print("uncommitted change applied")' in script.diff
    assert "b/notes.txt" in script.diff
    assert record.environment.python == ".".join(map(str, sys.version_info[:3]))
    assert record.params["General"] == {
        "lr": 0.1,
        "epochs": 2,
        "opt": {"name": "sgd"},
        "amp": False,
    }
    assert record.params["Args"]["bs"] == 16
    assert isinstance(record.params["Runyard"]["seed"], int)
    assert task.metrics().final == {"val/acc": pytest.approx(0.6)}
    assert [a.name for a in task.artifacts()] == ["model.bin"]
    assert task.download_artifact("model.bin", tmp_path).read_bytes() == b"weights" * 100
    logs = task.logs()
    assert "epoch 0" in logs and "epoch 1" in logs and "done" in logs


def test_a_script_that_raises_or_exits_nonzero_is_recorded_failed(
    live: ServerProcess, client: Client, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    raised, exited = project(), project()
    done = run_script(repo / "train.py", raised, "raise", server_url=live.url)
    assert done.returncode == 1 and "ValueError: loss exploded" in done.stderr
    failed = only_task(client, raised).record
    assert failed.status is TaskStatus.FAILED and failed.exit_code == 1
    assert failed.failure_reason is not None
    assert failed.failure_reason.startswith("script: Traceback")
    assert failed.failure_reason.endswith("ValueError: loss exploded")
    assert run_script(repo / "train.py", exited, "exit3", server_url=live.url).returncode == 3
    record = only_task(client, exited).record
    assert (record.status, record.exit_code) == (TaskStatus.FAILED, 3)


def test_script_goes_on_while_the_server_is_down_warns_once_and_sends_later(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "data", [], tmp_path / "server.log")
    script = tmp_path / "offline.py"
    script.write_text(
        "import time\n"
        "from runyard import Task, Client\n"
        "task = Task.init(project='offline', name='late', requirements=[])\n"
        "for step in range(50):\n"
        "    task.log_metric('loss', 1.0 / (step + 1), step=step)\n"
        "    time.sleep(0.05)\n"
        "while not Client(timeout=1).health():\n"
        "    task.log_metric('loss', 0.001)\n"
        "    time.sleep(0.1)\n"
        "print('server is back', flush=True)\n"
    )
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={"RUNYARD_SERVER": server.url, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(4)
        assert process.poll() is None, process.communicate()
        server.start()
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert err.count("cannot reach the Runyard server") == 1, err
        with Client(server.url) as client:
            task = client.tasks.list(project="offline").items[0]
            assert task.status is TaskStatus.COMPLETED
            loss = client.metrics.read(task.id).series["loss"]
            assert [p.step for p in loss[:50]] == list(range(50))
            assert "server is back" in [line.text for line in client.logs.read(task.id).lines]
    finally:
        if process.poll() is None:
            process.kill()
        server.stop()


def test_under_an_agent_init_attaches_and_connect_returns_the_stored_values_typed(
    live: ServerProcess, client: Client, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    params = {
        "General": {"lr": 0.5, "epochs": 3.0, "opt": {"name": "adam"}, "amp": "true"},
        "Args": {"bs": "32"},
        "Runyard": {"seed": 42},
    }
    task = client.tasks.create(TaskCreate(project=project(), params=params))
    env = {"RUNYARD_TASK_ID": task.id}
    done = run_script(repo / "train.py", "ignored", "ok", server_url=live.url, env=env)
    assert done.returncode == 0, done.stderr
    random.seed(42)
    expected = f"lr=0.5 epochs=3 opt=adam amp=True bs=32 draw={random.random()!r}"
    assert expected in done.stdout
    assert client.metrics.read(task.id).final == {"val/acc": pytest.approx(1.5)}
    after = client.tasks.get(task.id)
    assert after.status is TaskStatus.DRAFT, "the agent, not the script, reports the end"
    assert after.params == params
    assert client.tasks.list(project="ignored").items == []


def test_execute_remotely_queues_the_run_replacing_its_local_record_and_exits(
    live: ServerProcess, client: Client, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    name = project()
    done = run_script(repo / "train.py", name, "remote", "gpu-q", server_url=live.url)
    assert done.returncode == 0, done.stderr
    assert "still running locally" not in done.stdout
    local_id = done.stdout.split("recorded as ")[1].split()[0]
    queued = only_task(client, name).record
    assert queued.id != local_id
    assert (queued.status, queued.queue) == (TaskStatus.QUEUED, "gpu-q")
    assert queued.params["General"]["lr"] == 0.1
    assert queued.script.entry_point == "train.py" and "notes.txt" in queued.script.diff
    assert f"queued as task {queued.id}" in done.stderr


def test_clone_enqueue_and_get_through_the_python_api(
    live: ServerProcess, client: Client, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    name = project()
    assert run_script(repo / "train.py", name, "ok", server_url=live.url).returncode == 0
    original = only_task(client, name)
    clone = Task.clone(
        original.id or "", name="lower-lr", overrides={"General/lr": 0.01}, server=live.url
    )
    assert clone.status is TaskStatus.DRAFT
    assert clone.record.parent == original.id
    assert clone.params["General"]["lr"] == 0.01
    assert clone.enqueue("sdk-q", create_queue=True).status is TaskStatus.QUEUED
    assert Task.get(clone.id or "", server=live.url).record.queue == "sdk-q"
    moved = clone.move("sdk-other", priority=2, create_queue=True)
    assert moved.status is TaskStatus.QUEUED and moved.record.queue == "sdk-other"
    assert Task.get(clone.id or "", server=live.url).record.priority == 2
    shared = Task.clone(clone, resources=Resources(gpus=0.25, gpu_model="*A100*"))
    assert shared.record.resources == Resources(gpus=0.25, gpu_model="*A100*")


def test_a_script_outside_git_records_itself(
    live: ServerProcess, client: Client, tmp_path: Path
) -> None:
    folder = tmp_path / "loose"
    folder.mkdir()
    name = project()
    source = (
        f"from runyard import Task\nTask.init(project={name!r}, requirements=[])\nprint('hi')\n"
    )
    (folder / "solo.py").write_text(source)
    done = run_script(folder / "solo.py", server_url=live.url)
    assert done.returncode == 0, done.stderr
    script = only_task(client, name).record.script
    assert (script.repository, script.commit, script.entry_point) == ("", None, "solo.py")
    assert script.diff.startswith("diff --git a/solo.py b/solo.py\nnew file mode 100644\n")


def test_a_second_task_init_returns_the_first_run_and_warns_when_its_arguments_differ(
    live: ServerProcess, client: Client, tmp_path: Path
) -> None:
    name = project()
    lines = [
        "from runyard import Task",
        f"first = Task.init(project={name!r}, name='a', requirements=[])",
        f"assert Task.init(project={name!r}, name='a', requirements=[]) is first",
        "assert Task.init(project='elsewhere', name='b', requirements=[]) is first",
        "print('run', first.id)",
    ]
    (tmp_path / "twice.py").write_text("\n".join(lines) + "\n")
    done = run_script(tmp_path / "twice.py", server_url=live.url)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("called again with other arguments") == 1
    assert only_task(client, name).record.name == "a"
    assert client.tasks.list(project="elsewhere").items == []


def test_a_task_from_get_is_a_handle_not_a_run(live: ServerProcess, client: Client) -> None:
    created = client.tasks.create(TaskCreate(project=project()))
    task = Task.get(created.id, server=live.url)
    assert task.id == created.id and task.params == {}
    assert not hasattr(task, "connect") and not hasattr(task, "log_metric")


def test_cli_create_from_a_local_repo_records_commit_branch_and_diff(
    live: ServerProcess, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    env = {"RUNYARD_SERVER": live.url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(RUNYARD), "task", "create", "--repo", str(repo), "--script", "train.py",
         "--requirements", str(repo / "requirements.txt"), "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    script = json.loads(done.stdout)["script"]
    assert script["repository"] == str(repo)
    assert script["branch"] == "main" and len(script["commit"]) == 40
    assert "uncommitted change applied" in script["diff"] and "notes.txt" in script["diff"]
