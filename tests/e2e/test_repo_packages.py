"""Research repositories as they are: the repo's own package, a uv.lock, what was installed.

A team monorepo (``pyproject.toml`` at the root, the package under ``src/``, the entry
point in ``projects/churn/`` reading a committed CSV by a relative path) is recorded
from a local run and rerun by a real agent, which installs the package from the
checkout. A stale ``src/*.egg-info`` on ``sys.path`` is never recorded as a registry
pin. A ``uv.lock`` project is rebuilt with exactly its locked versions from a loopback
package index, what was installed is recorded on the task, shown by ``task compare``
and pinned by ``clone --pin-installed``.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.client import Client
from runyard.models import CloneRequest, Task, TaskStatus
from tests.docker_engine import DockerEngine
from tests.e2e.agent_support import DONE, AgentFactory, log_texts, wait_status
from tests.package_index import LocalIndex
from tests.sdk_support import git, run_script
from tests.servers import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

RUNYARD = Path(sys.executable).with_name("runyard")
UV = Path(sys.executable).with_name("uv")

PYPROJECT = """\
[project]
name = "acme-tabular"
version = "0.3.0"
requires-python = ">=3.8"
dependencies = []

[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[tool.setuptools.packages.find]
where = ["src"]
"""

PACKAGE = """\
import csv

def churn_rate(path):
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return sum(int(row["churned"]) for row in rows) / len(rows)
"""

TRAIN = """\
import sys
from runyard import Task

task = Task.init(project=sys.argv[1], name="churn", requirements=sys.argv[2] or None)
import acme_tabular

print("acme_tabular from", acme_tabular.__file__)
task.log_metric("churn_rate", acme_tabular.churn_rate("data/churn.csv"))
"""


def monorepo(root: Path) -> Path:
    repo = root / "monorepo"
    files = {
        "pyproject.toml": PYPROJECT,
        ".gitignore": "*.egg-info/\n__pycache__/\n",
        "src/acme_tabular/__init__.py": PACKAGE,
        "projects/churn/train.py": TRAIN,
        "projects/churn/data/churn.csv": "id,churned\n1,1\n2,0\n3,0\n4,1\n5,1\n",
    }
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "monorepo")
    return repo


def only_task(client: Client, project: str) -> Task:
    items = client.tasks.list(project=project).items
    assert len(items) == 1, items
    return items[0]


def test_monorepo_package_is_installed_from_the_checkout_on_the_agent(
    server: ServerProcess, client: Client, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    repo = monorepo(tmp_path)
    # On the laptop the package is importable from src/ (as an editable install makes it).
    local = run_script(
        repo / "projects/churn/train.py",
        "mono",
        "pyproject.toml",
        server_url=server.url,
        env={"PYTHONPATH": str(repo / "src")},
    )
    assert local.returncode == 0, local.stderr
    recorded = only_task(client, "mono")
    assert recorded.script.entry_point == "projects/churn/train.py"
    assert recorded.script.working_dir == "projects/churn"
    assert recorded.environment.repo_packages == ["."]
    assert recorded.environment.requirements == []

    agent_factory(server.url, "--cpu-only", "--queue", "mono")
    rerun = client.tasks.clone(recorded.id, CloneRequest(queue="mono", create_queue=True))
    done = wait_status(client, rerun.id, *DONE, timeout=300)
    log = log_texts(client, rerun.id)
    print("\n".join(log))
    assert done.status is TaskStatus.COMPLETED, (done.failure_reason, log)
    origin = next(line for line in log if line.startswith("acme_tabular from "))
    # Imported from the agent's checkout of the commit, not from the laptop's repo.
    assert origin.endswith("/src/acme_tabular/__init__.py") and str(repo) not in origin
    assert client.metrics.read(rerun.id).final["churn_rate"] == pytest.approx(0.6)
    installed = {p.name: p for p in done.environment.installed}
    assert installed["acme-tabular"].version == "0.3.0"
    assert installed["acme-tabular"].path == "."


def test_a_stale_egg_info_of_the_repo_is_recorded_as_its_package_not_a_pin(
    server: ServerProcess, client: Client, tmp_path: Path
) -> None:
    repo = monorepo(tmp_path)
    stale = repo / "src" / "acme_tabular.egg-info"
    stale.mkdir()
    (stale / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: acme-tabular\nVersion: 0.3.0\n")
    local = run_script(
        repo / "projects/churn/train.py",
        "stale",
        "",  # no requirements given: the freeze of the running interpreter
        server_url=server.url,
        env={"PYTHONPATH": str(repo / "src")},
    )
    assert local.returncode == 0, local.stderr
    environment = only_task(client, "stale").environment
    names = {line.split("==")[0].split(" @ ")[0].lower() for line in environment.requirements}
    assert "acme-tabular" not in names  # a registry would answer with a stranger's package
    assert not {"pip", "setuptools", "wheel"} & names
    assert "pydantic" in names  # the rest of the freeze is there
    assert environment.repo_packages == ["."]


LOCKED_PYPROJECT = """\
[project]
name = "locked-study"
version = "0.1.0"
requires-python = ">=3.8"
dependencies = ["runyard-locked-pkg>=1"]
"""

PRINT_VERSION = """\
import runyard_locked_pkg
print("locked package", runyard_locked_pkg.__version__)
"""


@pytest.fixture
def index(tmp_path: Path) -> Iterator[LocalIndex]:
    local = LocalIndex(tmp_path / "index")
    local.add("simple", "runyard-locked-pkg", "1.0.0")
    with local.serving():
        yield local


def cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNYARD_SERVER": server.url, "RUNYARD_TOKEN": ""}
    return subprocess.run(
        [str(RUNYARD), *args], env=env, capture_output=True, text=True, timeout=120
    )


def locked_study(tmp_path: Path, index: LocalIndex) -> Path:
    """A committed project whose uv.lock pins runyard-locked-pkg 1.0.0 (the index's only one)."""
    repo = tmp_path / "study"
    repo.mkdir()
    (repo / "pyproject.toml").write_text(LOCKED_PYPROJECT)
    (repo / "train.py").write_text(PRINT_VERSION)
    uv_env = {**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache")}
    subprocess.run(
        [str(UV), "lock", "--quiet", "--default-index", index.url("simple")],
        cwd=repo,
        env=uv_env,
        check=True,
        timeout=120,
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "locked study")
    return repo


def created_id(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    task_id: str = json.loads(done.stdout)["id"]
    return task_id


def test_uv_lock_is_rebuilt_exactly_and_installed_versions_are_compared_and_pinned(
    server: ServerProcess,
    client: Client,
    agent_factory: AgentFactory,
    index: LocalIndex,
    tmp_path: Path,
) -> None:
    repo = locked_study(tmp_path, index)
    index.add("simple", "runyard-locked-pkg", "2.0.0")  # newer than the lock: must not be used
    agent_factory(
        server.url,
        "--cpu-only",
        "--queue",
        "lock",
        extra_env={"RUNYARD_AGENT_INDEX_URL": index.url("simple")},
    )
    common = ["--repo", str(repo), "--script", "train.py", "--queue", "lock", "--create-queue"]
    locked = created_id(
        cli(server, "task", "create", "--json", "--name", "locked", *common,
            "--requirements", "pyproject.toml")
    )  # fmt: skip
    latest = created_id(
        cli(server, "task", "create", "--json", "--name", "latest", *common,
            "--requirement", "runyard-locked-pkg>=1")
    )  # fmt: skip

    first = wait_status(client, locked, *DONE, timeout=300)
    second = wait_status(client, latest, *DONE, timeout=300)
    assert first.status is TaskStatus.COMPLETED, (first.failure_reason, log_texts(client, locked))
    assert second.status is TaskStatus.COMPLETED, second.failure_reason
    assert first.environment.lock_file == "uv.lock"
    assert first.environment.requirements == ["runyard-locked-pkg>=1"]
    assert "locked package 1.0.0" in log_texts(client, locked)
    assert "locked package 2.0.0" in log_texts(client, latest)
    installed = {p.name: p for p in first.environment.installed}
    assert installed["runyard-locked-pkg"].version == "1.0.0"
    assert installed["runyard-locked-pkg"].hashes[0].startswith("sha256:")
    assert "runyard" not in installed

    compared = cli(server, "task", "compare", locked, latest)
    assert compared.returncode == 0, compared.stderr
    row = next(line for line in compared.stdout.splitlines() if "runyard-locked-pkg" in line
               and "1.0.0" in line)  # fmt: skip
    assert row.startswith("* ") and "2.0.0" in row, compared.stdout
    as_json = json.loads(cli(server, "task", "compare", "--json", locked, latest).stdout)
    assert "runyard-locked-pkg" in as_json["differences"]["installed"]

    pinned = json.loads(cli(server, "task", "clone", "--json", "--pin-installed", latest).stdout)[
        "environment"
    ]
    assert "runyard-locked-pkg==2.0.0" in pinned["requirements"]
    assert pinned["installed"] == []  # the clone has not been built yet
    never_built = cli(server, "task", "clone", "--pin-installed", pinned_source(client, latest))
    assert never_built.returncode != 0 and "no environment.installed" in never_built.stderr

    # reproduce rebuilds the lock task from its installed pins, even with 2.0.0 on the index.
    reproduced = cli(server, "task", "reproduce", locked, "--queue", "lock", "--wait", "--json")
    assert reproduced.returncode == 1, reproduced.stderr  # it logs no metrics to match
    rerun = client.tasks.get(json.loads(reproduced.stdout)["rerun"])
    assert rerun.status is TaskStatus.COMPLETED, rerun.failure_reason
    assert "runyard-locked-pkg==1.0.0" in rerun.environment.requirements
    assert rerun.environment.lock_file is None
    assert "locked package 1.0.0" in log_texts(client, rerun.id)


def pinned_source(client: Client, task_id: str) -> str:
    """A draft clone: it never ran, so it has nothing installed to pin."""
    return client.tasks.clone(task_id, CloneRequest()).id


def test_docker_executor_installs_a_uv_lock_exactly_and_records_it(
    server: ServerProcess,
    client: Client,
    agent_factory: AgentFactory,
    docker_engine: DockerEngine,
    index: LocalIndex,
    tmp_path: Path,
) -> None:
    repo = locked_study(tmp_path, index)
    index.add("simple", "runyard-locked-pkg", "2.0.0")
    args = ["--executor", "docker", "--docker-image", docker_engine.image]
    args += ["--docker-host", docker_engine.host, "--cpu-only", "--queue", "dock"]
    agent_factory(server.url, *args, extra_env={"RUNYARD_AGENT_INDEX_URL": index.url("simple")})
    created = cli(
        server, "task", "create", "--json", "--repo", str(repo), "--script", "train.py",
        "--requirements", "pyproject.toml", "--queue", "dock", "--create-queue",
    )  # fmt: skip
    done = wait_status(client, created_id(created), *DONE, timeout=300)
    log = log_texts(client, done.id)
    assert done.status is TaskStatus.COMPLETED, (done.failure_reason, log)
    assert "locked package 1.0.0" in log
    installed = {p.name: p for p in done.environment.installed}
    assert installed["runyard-locked-pkg"].version == "1.0.0"
    assert installed["runyard-locked-pkg"].hashes[0].startswith("sha256:")
