"""Sweeps end to end: a real server (its jobs process runs the controller), three real
agents and a seeded noisy quadratic that logs its value per step.

The objective's least value is 0.1 at x = 0.3, y = -0.2; each step logs it plus a term
that shrinks with the step, and a seeded noise of at most 0.005. A trial writes its pid
to ``PIDS/{task id}`` and, on SIGTERM, ``PIDS/{task id}.term`` with the step it reached.
"""

import math
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from runyard.client import Client
from runyard.models import Environment, Script, TaskCreate, TaskStatus
from tests.e2e.agent_support import AgentFactory, agent_factory, gone, wait_for
from tests.faults.support import children_of, wait_gone
from tests.gitrepo import commit_then_change
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e
__all__ = ["agent_factory"]

QUAD = """\
import os, pathlib, random, signal, sys, time
from runyard import Task

task = Task.init(project="sweeps", name="quad", requirements=[])
args = task.connect({"x": 0.0, "y": 0.0, "steps": 4, "pause": 0.05, "broken": 0}, name="Args")
if args["broken"]:
    raise SystemExit("the base script is broken")
pids = pathlib.Path(sys.argv[1])
me = pids / os.environ["RUNYARD_TASK_ID"]
me.write_text(str(os.getpid()))
step = 0
def stop(signum, frame):
    pathlib.Path(f"{me}.term").write_text(f"{step} {time.time()!r}")
    task.flush()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
noise = random.Random(f"{args['x']:.6f},{args['y']:.6f}").uniform(-0.005, 0.005)
best = (args["x"] - 0.3) ** 2 + (args["y"] + 0.2) ** 2 + 0.1 + noise
for step in range(int(args["steps"])):
    late = step + 1 == int(args["steps"])
    task.log_metric("loss", best + (0 if late else 1.0 / (step + 1)), step=step)
    task.flush()
    time.sleep(args["pause"])
"""


def _base(client: Client, tmp_path: Path, **params: Any) -> str:
    repo = commit_then_change(tmp_path / "repo", {"quad.py": QUAD}, "quad.py", "\n")
    pids = tmp_path / "pids"
    pids.mkdir()
    base = client.tasks.create(
        TaskCreate(
            name="quad",
            project="sweeps",
            script=Script(
                repository=str(repo.path),
                commit=repo.commit,
                diff=repo.diff,
                entry_point="quad.py",
                args=[str(pids)],
            ),
            environment=Environment(requirements=[]),
            params={"Args": {"x": 0.0, "y": 0.0, "steps": 4, "pause": 0.05, "broken": 0, **params}},
        )
    )
    client.queues.create("sweeps")
    return base.id


def _start(server: ServerProcess, base: str, **fields: Any) -> dict[str, Any]:
    body = {
        "base": base,
        "params": {"Args/x": "uniform(-1,1)", "Args/y": "uniform(-1,1)"},
        "objective": "loss",
        "queue": "sweeps",
        **fields,
    }
    made = requests.post(f"{server.api}/sweeps", json=body, timeout=10)
    assert made.status_code == 201, made.text
    return dict(made.json())


def _get(server: ServerProcess, path: str) -> Any:
    return requests.get(f"{server.api}{path}", timeout=10).json()


def _wait_ended(server: ServerProcess, sweep_id: str, timeout: float) -> dict[str, Any]:
    wait_for(
        lambda: _get(server, f"/sweeps/{sweep_id}")["status"] != "running", timeout, "the sweep"
    )
    sweep = _get(server, f"/sweeps/{sweep_id}")
    # Trials in flight when it ended are aborted; their ends arrive just after.
    wait_for(
        lambda: all(t["status"] not in ("queued", "running") for t in _trials(server, sweep_id)),
        30,
        "the sweep's last trials to end",
    )
    return dict(sweep)


def _trials(server: ServerProcess, sweep_id: str) -> list[dict[str, Any]]:
    return list(_get(server, f"/sweeps/{sweep_id}/trials")["trials"])


def _most_running_at_once(client: Client, task_ids: set[str]) -> int:
    """From each trial's start and end times: the most that ran at one moment."""
    edges: list[tuple[float, int]] = []
    for task_id in task_ids:
        task = client.tasks.get(task_id)
        if task.started is not None and task.finished is not None:
            edges += [(task.started.timestamp(), 1), (task.finished.timestamp(), -1)]
    most = running = 0
    for _, change in sorted(edges, key=lambda e: (e[0], e[1])):
        running += change
        most = max(most, running)
    return most


def test_30_trials_3_at_a_time_find_the_quadratics_least_value_as_clones_of_the_base(
    server: ServerProcess, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    with Client(server.url) as client:
        base = _base(client, tmp_path)
        for _ in range(3):
            agent_factory(server.url, "--queue", "sweeps")
        sweep = _start(server, base, trials=30, parallel=3, sampler="tpe", seed=5,
                       sampler_options={"n_startup_trials": 8})  # fmt: skip

        ended = _wait_ended(server, sweep["id"], 300)

        assert ended["status"] == "done", ended
        trials = _trials(server, sweep["id"])
        assert [t["number"] for t in trials] == list(range(30))
        assert all(t["status"] == "completed" for t in trials), trials
        best = ended["best"]
        assert best["value"] == min(t["value"] for t in trials)
        print(f"best {best['value']:.4f} (least possible 0.095) at {best['params']}")
        assert best["value"] < 0.1 + 0.08, best
        ids = {t["task_id"] for t in trials}
        assert len(ids) == 30
        assert _most_running_at_once(client, ids) <= 3
        for trial in trials:
            task = client.tasks.get(trial["task_id"])
            assert task.parent == base and f"sweep:{sweep['id']}" in task.tags
            assert task.origin == f"sweep:{sweep['id']}:{trial['number']}"
            assert task.params["Args"]["x"] == trial["params"]["Args/x"]
            assert task.params["Args"]["y"] == trial["params"]["Args/y"]
            assert task.status is TaskStatus.COMPLETED and task.attempt == 1
            x, y = trial["params"]["Args/x"], trial["params"]["Args/y"]
            assert math.isclose(
                trial["value"], (x - 0.3) ** 2 + (y + 0.2) ** 2 + 0.1, abs_tol=0.0051
            )
        clone = requests.post(f"{server.api}/sweeps/{sweep['id']}/clone-best", json={}, timeout=10)
        assert clone.status_code == 201 and clone.json()["parent"] == best["task_id"]


def test_the_median_pruner_stops_clearly_bad_curves_early_and_reuses_their_slots(
    server: ServerProcess, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    with Client(server.url) as client:
        base = _base(client, tmp_path, steps=25, pause=0.1)
        for _ in range(3):
            agent_factory(server.url, "--queue", "sweeps")
        # x far from 0.3 is clearly bad from the first step (up to 1.7 above the best).
        sweep = _start(
            server, base, trials=10, parallel=3, sampler="random", seed=11, pruner="median",
            pruner_options={"n_startup_trials": 2, "n_warmup_steps": 2},
        )  # fmt: skip

        ended = _wait_ended(server, sweep["id"], 300)

    assert ended["status"] == "done", ended
    trials = _trials(server, sweep["id"])
    assert len(trials) == 10
    pruned = [t for t in trials if t["status"] == "pruned"]
    assert pruned, trials
    pids = tmp_path / "pids"
    for trial in pruned:
        assert re.fullmatch(r"pruned at step \d+ by median", trial["reason"]), trial
        assert trial["step"] < 20, trial
        term = pids / f"{trial['task_id']}.term"
        assert term.exists(), f"trial {trial['number']} got no SIGTERM"
        assert gone(int((pids / trial["task_id"]).read_text()))
    # The slot a pruned trial frees is filled as soon as its task has ended.
    log = _get(server, f"/sweeps/{sweep['id']}/events")["events"]
    ended_at = next(e["time"] for e in log if e["kind"] == "trial.pruned")
    refill = [e for e in log if e["kind"] == "trial.spawned" and e["time"] >= ended_at]
    assert refill, log
    gap = _seconds(refill[0]["time"]) - _seconds(ended_at)
    print(f"first pruned trial's slot refilled {gap * 1000:.0f} ms after its end")
    assert gap < 2.0


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def test_a_server_kill_9_and_an_agent_kill_9_mid_sweep_lose_and_duplicate_no_trial(
    server_factory: Any, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    server = server_factory("--lease", "3", "--first-lease", "3", "--redis-fsync", "always")
    with Client(server.url) as client:
        base = _base(client, tmp_path, steps=6, pause=0.3)
    agents = [agent_factory(server.url, "--queue", "sweeps") for _ in range(3)]
    sweep = _start(server, base, trials=9, parallel=3, sampler="random", seed=2)
    pids = tmp_path / "pids"

    # An agent dies with its trial running: the trial's task is requeued by its lease.
    wait_for(lambda: any(pids.iterdir()), 120, "a trial to start")
    victim_task = next(p.name for p in pids.iterdir() if "." not in p.name)
    running = psutil.Process(int((pids / victim_task).read_text()))
    above = {parent.pid for parent in running.parents()}
    victim = next(agent for agent in agents if agent.process.pid in above)
    victim.process.kill()
    # The server dies mid-sweep, with all its children, as in a crash; and comes back.
    wait_for(lambda: _get(server, f"/sweeps/{sweep['id']}")["counts"]["completed"] >= 2, 120)
    children = children_of(server)
    for child in children:
        child.kill()
    server.kill()
    wait_gone(children)
    time.sleep(1)
    server.start()

    ended = _wait_ended(server, sweep["id"], 300)

    assert ended["status"] == "done", ended
    trials = _trials(server, sweep["id"])
    assert [t["number"] for t in trials] == list(range(9))
    assert all(t["status"] == "completed" for t in trials), trials
    with Client(server.url) as client:
        made = client.tasks.list(tag=f"sweep:{sweep['id']}", limit=100).items
        assert sorted(t.id for t in made) == sorted(t["task_id"] for t in trials)
        rerun = client.tasks.get(victim_task)
    assert rerun.status is TaskStatus.COMPLETED and rerun.attempt == 2
    assert any(t["task_id"] == victim_task for t in trials)


def test_a_broken_base_script_stops_the_sweep_with_a_clear_reason(
    server: ServerProcess, agent_factory: AgentFactory, tmp_path: Path
) -> None:
    with Client(server.url) as client:
        base = _base(client, tmp_path, broken=1)
    for _ in range(3):
        agent_factory(server.url, "--queue", "sweeps")
    sweep = _start(server, base, trials=30, parallel=3, sampler="random")

    ended = _wait_ended(server, sweep["id"], 180)

    assert ended["status"] == "failed"
    assert "trials all failed (is the base task broken?)" in ended["reason"]
    assert "the base script is broken" in ended["reason"]
    assert len(_trials(server, sweep["id"])) <= 6
