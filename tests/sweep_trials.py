"""A sweep's trials for the CLI, SDK and UI tests: a real git repository with a trial
script whose curve is known, a base task that runs it, and a sweep spec over it.

The script reads ``General/lr`` from its task (as a clone gets it) and logs
``val/acc = lr * (step + 1) / steps`` at each step, one point a request with a pause
between, so a trial's curve is below another's at every step exactly when its ``lr``
is: the median pruner cuts the low ones early, and the best trial is the highest ``lr``.
"""

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runyard.client import Client
from runyard.models import Script, Task, TaskCreate
from tests.e2e.agent_support import AgentProcess, wait_for
from tests.gitrepo import Repo, commit_then_change
from tests.servers import ServerProcess

TRIAL = """\
import os, time
import requests
from runyard.client import Client

task_id = os.environ["RUNYARD_TASK_ID"]
params = Client().tasks.get(task_id).params["General"]
lr, steps, pause = float(params["lr"]), int(params["steps"]), float(params["pause"])
url = os.environ["RUNYARD_SERVER"].rstrip("/") + f"/api/v1/tasks/{task_id}/metrics"
token = os.environ.get("RUNYARD_TOKEN")
headers = {"Authorization": "Bearer " + token} if token else {}
for step in range(steps):
    acc = lr * (step + 1) / steps
    point = {"series": "val/acc", "value": acc, "step": step, "ts": time.time()}
    requests.post(url, json={"points": [point]}, headers=headers, timeout=10).raise_for_status()
    print(f"step {step}: val/acc={acc:.4f}", flush=True)
    time.sleep(pause)
"""

LRS = (0.9, 0.6, 0.2, 0.1)
"""The grid searched: the final val/acc of a trial is its lr."""


class Yard:
    """A server, one agent with three slots serving ``queue``, and the trial repository."""

    def __init__(self, server: ServerProcess, repo: Repo, queue: str) -> None:
        self.server = server
        self.repo = repo
        self.queue = queue
        self.client = Client(server.url)


@contextlib.contextmanager
def sweep_yard(root: Path, queue: str) -> Iterator[Yard]:
    """A :class:`Yard` under ``root``, stopped at the end.

    Leases are 3 s, so the agent heartbeats every second and hears of an abort (a
    pruned trial) within about one: with the default 30 s lease it would hear of it
    only after these short trials have ended.
    """
    server = ServerProcess(
        root / "server", ["--lease", "3", "--first-lease", "3"], root / "server.log"
    )
    server.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    env["RUNYARD_SERVER"] = server.url
    argv = ["--name", "sweeper", "--cache-dir", str(root / "cache"), "--slots", "3"]
    argv += ["--queue", queue, "--poll-wait-s", "2", "--abort-grace-s", "3"]
    agent = AgentProcess(argv, env, root / "agent.log")
    try:
        yard = Yard(server, make_trial_repo(root), queue)
        # Its registration creates the queue, which a sweep needs to exist.
        wait_for(lambda: bool(yard.client.workers.list()), 30, "the agent to register")
        yield yard
    finally:
        agent.process.kill()
        agent.process.wait()
        server.stop()


def make_trial_repo(root: Path) -> Repo:
    """The trial script committed in a fresh repository under ``root``."""
    path = root / "sweep-repo"
    path.mkdir()
    return commit_then_change(path, {"trial.py": TRIAL}, "trial.py", "\n")


def base_task(client: Client, repo: Repo, project: str, pause: float = 0.4) -> Task:
    """A draft task running the trial script: what a sweep clones."""
    return client.tasks.create(
        TaskCreate(
            project=project,
            name="trial base",
            script=Script(
                repository=str(repo.path),
                commit=repo.commit,
                diff=repo.diff,
                entry_point="trial.py",
            ),
            params={"General": {"lr": 0.5, "steps": 8, "pause": pause}},
        )
    )


def grid_spec(base_id: str, queue: str, **fields: Any) -> dict[str, Any]:
    """A sweep of one trial at a time over ``LRS``, maximising val/acc, with a median
    pruner that may cut a trial from its second step once one trial has completed."""
    spec: dict[str, Any] = {
        "base": base_id,
        "params": {"General/lr": f"choice({','.join(map(str, LRS))})"},
        "objective": "val/acc",
        "direction": "max",
        "trials": len(LRS),
        "parallel": 1,
        "queue": queue,
        "sampler": "grid",
        "pruner": "median",
        "pruner_options": {"n_startup_trials": 1, "n_warmup_steps": 1},
        "seed": 7,
    }
    return {**spec, **fields}
