"""A Hydra app (hydra-core 1.3, no ``version_base``: Hydra changes into ``outputs/…``
before main) recorded, cloned with a Hydra param, rerun by a real agent, and swept.

The app lives in a subdirectory of a monorepo, as research code does; it is run from
the repository root and from its own folder. A clone's ``Hydra/…`` param reaches
Hydra as an override: Hydra's own ``.hydra/overrides.yaml`` (uploaded as the rerun's
``hydra.zip``) names it, and an interpolated value follows it.
"""

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from runyard.client import Client
from runyard.errors import InvalidError
from runyard.models import CloneRequest, Task, TaskStatus
from tests.e2e.agent_support import DONE, AgentFactory, agent_factory, log_texts, wait_status
from tests.sdk_support import git
from tests.servers import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
__all__ = ["agent_factory"]

HYDRA = "hydra-core==1.3.8"

APP = f"""\
import os
import hydra
from omegaconf import DictConfig
from runyard import Task


PROJECT = os.environ.get("PROJECT", "rerun")
# Relative to the repository root, wherever Hydra moved the cwd to.
REQUIREMENTS = "pyproject.toml" if os.environ.get("FROM_PYPROJECT") else [{HYDRA!r}]
if os.environ.get("INIT_EARLY"):  # before Hydra's main: the run records the job once it starts
    Task.init(project=PROJECT, name="churn", requirements=REQUIREMENTS)


@hydra.main(config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    task = Task.init(project=PROJECT, name="churn", requirements=REQUIREMENTS)
    print(f"max_depth={{cfg.model.max_depth}} name={{cfg.model.name}} lr={{cfg.lr}}")
    print("cwd", os.getcwd())
    task.log_metric("depth", cfg.model.max_depth)


if __name__ == "__main__":
    main()
"""

CONFIG = """\
model:
  max_depth: 5
  name: tree_${model.max_depth}
lr: 0.1
"""


def make_monorepo(root: Path) -> Path:
    """A git repo with the app at ``projects/churn/train.py`` and its ``conf/``."""
    repo = root / "mono"
    app = repo / "projects" / "churn"
    (app / "conf").mkdir(parents=True)
    (app / "train.py").write_text(APP)
    (app / "conf" / "config.yaml").write_text(CONFIG)
    (repo / ".gitignore").write_text("outputs/\nmultirun/\n")
    (repo / "pyproject.toml").write_text(
        f'[project]\nname = "mono"\nversion = "0.1"\ndependencies = ["{HYDRA}"]\n'
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "churn app")
    return repo


def run_app(
    cwd: Path,
    script: str,
    *args: str,
    server: ServerProcess,
    project: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    env = {**clean, **(env or {})}
    env.update(RUNYARD_SERVER=server.url, PROJECT=project, PYTHONUNBUFFERED="1")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, script, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(f"{script} {' '.join(args)}: {time.monotonic() - started:.2f}s")
    return done


def tasks_of(client: Client, project: str) -> list[Task]:
    return client.tasks.list(project=project).items


def hydra_files(client: Client, task_id: str, dest: Path) -> dict[str, str]:
    """The files of the task's ``hydra.zip`` artifact, by path inside it."""
    path = client.artifacts.download(task_id, "hydra.zip", dest)
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def test_a_hydra_app_is_recorded_from_the_repo_root_and_from_its_folder(
    server: ServerProcess, client: Client, tmp_path: Path
) -> None:
    repo = make_monorepo(tmp_path)
    # By its absolute path from the root; by its relative path from its folder.
    script = str(repo / "projects" / "churn" / "train.py")
    from_root = run_app(repo, script, "lr=0.2", server=server, project="root")
    assert from_root.returncode == 0, from_root.stderr
    app = repo / "projects" / "churn"
    pyproject = {"FROM_PYPROJECT": "1"}
    from_folder = run_app(app, "train.py", server=server, project="sub", env=pyproject)
    assert from_folder.returncode == 0, from_folder.stderr
    early = run_app(app, "train.py", server=server, project="early", env={"INIT_EARLY": "1"})
    assert early.returncode == 0, early.stderr
    assert "not recorded" not in from_root.stderr + from_folder.stderr + early.stderr

    (root_task,) = tasks_of(client, "root")
    (sub_task,) = tasks_of(client, "sub")
    (early_task,) = tasks_of(client, "early")
    assert early_task.params["Hydra"]["model.name"] == "tree_${model.max_depth}"
    assert early_task.script.working_dir == "projects/churn"
    for task, working_dir in ((root_task, "."), (sub_task, "projects/churn")):
        assert task.status is TaskStatus.COMPLETED, task.failure_reason
        assert task.script.repository == str(repo)
        assert task.script.entry_point == "projects/churn/train.py"
        assert task.script.working_dir == working_dir
        assert task.environment.requirements == [HYDRA]
    assert root_task.script.args == ["lr=0.2"]
    assert root_task.params["Hydra"] == {
        "model.max_depth": 5,
        "model.name": "tree_${model.max_depth}",
        "lr": 0.2,
    }
    record = root_task.params["HydraRecord"]
    assert record["overrides"] == ["lr=0.2"]
    assert "name: tree_${model.max_depth}" in record["config"]
    assert "name: tree_5" in record["resolved"]
    files = hydra_files(client, root_task.id, tmp_path)
    assert sorted(files) == [".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml"]
    assert "lr=0.2" in files[".hydra/overrides.yaml"]


def test_a_clone_with_a_hydra_param_is_composed_by_hydra_on_the_agent(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    repo = make_monorepo(tmp_path)
    local = run_app(repo / "projects" / "churn", "train.py", server=server, project="clone")
    assert local.returncode == 0, local.stderr
    (original,) = tasks_of(client, "clone")

    with pytest.raises(InvalidError, match=r"did you mean Hydra/model\.max_depth"):
        client.tasks.clone(original.id, CloneRequest(overrides={"Hydra/model.maxdepth": 3}))
    with pytest.raises(InvalidError, match="recorded value is a int"):
        client.tasks.clone(original.id, CloneRequest(overrides={"Hydra/model.max_depth": "deep"}))

    agent_factory(server.url)
    started = time.monotonic()
    clone = client.tasks.clone(
        original.id,
        CloneRequest(overrides={"Hydra/model.max_depth": 3}, queue="default", create_queue=True),
    )
    done = wait_status(client, clone.id, *DONE, timeout=300)
    print(f"rerun on the agent: {time.monotonic() - started:.2f}s")
    assert done.status is TaskStatus.COMPLETED, done.failure_reason
    texts = log_texts(client, clone.id)
    # The interpolated name follows the override: Hydra composed the config.
    assert "max_depth=3 name=tree_3 lr=0.1" in texts, texts
    files = hydra_files(client, clone.id, tmp_path)
    assert "model.max_depth=3" in files[".hydra/overrides.yaml"]
    assert "max_depth: 3" in files[".hydra/config.yaml"]
    assert client.metrics.read(clone.id).final == {"depth": 3.0}


def test_a_multirun_makes_one_child_task_per_job_under_one_parent(
    server: ServerProcess, client: Client, tmp_path: Path
) -> None:
    repo = make_monorepo(tmp_path)
    app = repo / "projects" / "churn"
    swept = run_app(app, "train.py", "-m", "model.max_depth=2,3,4", server=server, project="sweep")
    assert swept.returncode == 0, swept.stderr

    tasks = tasks_of(client, "sweep")
    parents = [t for t in tasks if t.parent is None]
    assert len(parents) == 1, tasks
    parent = parents[0]
    assert parent.script.args == ["-m", "model.max_depth=2,3,4"]
    children = sorted(
        (t for t in tasks if t.parent == parent.id),
        key=lambda t: t.params["Hydra"]["model.max_depth"],
    )
    assert [c.params["Hydra"]["model.max_depth"] for c in children] == [2, 3, 4]
    assert len(tasks) == 4
    for depth, child in zip((2, 3, 4), children, strict=True):
        assert child.status is TaskStatus.COMPLETED, child.failure_reason
        assert child.script.args == [f"model.max_depth={depth}"]
        assert child.script.working_dir == "projects/churn"
        assert client.metrics.read(child.id).final == {"depth": float(depth)}
        assert f"max_depth={depth} name=tree_{depth} lr=0.1" in log_texts(client, child.id)
    assert wait_status(client, parent.id, *DONE).status is TaskStatus.COMPLETED
