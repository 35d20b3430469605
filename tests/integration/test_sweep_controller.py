"""The sweep controller on a real Redis, its trials run by an in-process stand-in for the
agents: the number of trials, ``parallel`` in flight, exactly-once spawning across a
controller that died mid-spawn, pruning, a broken base and ``max_time_s``. (With real
agents and a real server: ``tests/e2e/test_sweeps.py``.)"""

import time
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from runyard.models import (
    CloneRequest,
    MetricBatch,
    MetricPoint,
    SweepCreate,
    SweepStatus,
    TaskStatus,
)
from runyard_server import store
from runyard_server.history_files import LocalHistory
from runyard_server.jobs.controllers import GROUP, ControllerHub, origin, spawn_idem
from runyard_server.jobs.events import EventConsumer
from runyard_server.jobs.sweeps import SweepController
from runyard_server.store import keys
from runyard_server.store.sweep_trials import read_trials, record_asked
from runyard_server.store.sweeps import create_sweep, get_sweep
from tests.integration.store_support import PLENTY, make_task, make_worker

pytestmark = pytest.mark.anyio

Objective = Callable[[dict[str, Any], int], float]
"""A trial's objective at a step, from its params (``Section/key`` → value)."""


def quadratic(params: dict[str, Any], step: int) -> float:
    """Least (0.1 at the last step) at lr = 0.3, layers = 2."""
    lr, layers = params["Args"]["lr"], params["Args"]["layers"]
    return (lr - 0.3) ** 2 + 0.01 * (layers - 2) ** 2 + 0.1 + 0.5 / (step + 1)


class Sweeper:
    """The controller and its event consumer, and a worker that runs each trial's steps
    one per round, logging the objective, and honours aborts."""

    def __init__(self, r: aioredis.Redis, history: LocalHistory) -> None:
        self.r = r
        self.controller = SweepController(r, history)
        hub = ControllerHub(r, [self.controller])
        self.consumer = EventConsumer(r, GROUP, hub.on_event, retry_s=0.2, block_s=0.001)
        self.running: dict[str, tuple[str, int]] = {}  # task → (lease token, step)
        self.most_in_flight = 0
        self.worker = ""

    async def start(self, **fields: Any) -> str:
        """A base task and a sweep of it; the sweep's id."""
        await store.create_queue(self.r, "q")
        self.worker = (await make_worker(self.r)).id
        base = await make_task(
            self.r, params={"Args": {"lr": 0.01, "layers": 1}}, script={"entry_point": "t.py"}
        )
        await self.consumer.ensure_group()
        body = SweepCreate.model_validate(
            {
                "base": base.id,
                "params": {"Args/lr": "uniform(0,1)", "Args/layers": "int(1,4)"},
                "objective": "loss",
                "queue": "q",
                **fields,
            }
        )
        made = await create_sweep(
            self.r, body, name="s", project="default", owner=None, now=time.time()
        )
        return made.id

    async def round(self, objective: Objective, steps: int, fail: bool = False) -> None:
        """One round: the controller acts, the worker claims one task and moves each of
        its tasks one step."""
        await self.controller.tick()
        await self.consumer.poll()
        in_flight = await self.r.zcard(keys.queue("q")) + len(self.running)
        self.most_in_flight = max(self.most_in_flight, in_flight)
        found = await store.claim(self.r, self.worker, ["q"], PLENTY, 60, time.time())
        if found is not None and found.task is not None and found.lease_token is not None:
            self.running[found.task.id] = (found.lease_token, 0)
        for task_id, (token, step) in list(self.running.items()):
            await self._advance(task_id, token, step, objective, steps, fail)

    async def _advance(
        self, task_id: str, token: str, step: int, objective: Objective, steps: int, fail: bool
    ) -> None:
        now = time.time()
        task = await store.get_task(self.r, task_id)
        if task.abort_requested:
            await store.report_end(self.r, task_id, token, TaskStatus.ABORTED, -15, None, now)
        elif fail:
            await store.report_end(self.r, task_id, token, TaskStatus.FAILED, 1, "boom", now)
        elif step == steps:
            await store.report_end(self.r, task_id, token, TaskStatus.COMPLETED, 0, None, now)
        else:
            point = MetricPoint(
                series="loss", step=step, value=objective(task.params, step), ts=now
            )
            await store.append_metrics(self.r, task_id, MetricBatch(points=[point]))
            self.running[task_id] = (token, step + 1)
            return
        del self.running[task_id]

    async def until_ended(
        self, sweep_id: str, objective: Objective = quadratic, steps: int = 2, fail: bool = False
    ) -> None:
        for _ in range(2000):
            sweep = await get_sweep(self.r, sweep_id)
            if sweep.status is not SweepStatus.RUNNING and not self.running:
                await self.consumer.poll()  # the last trials' ends
                return
            await self.round(objective, steps, fail)
        pytest.fail(f"sweep {sweep_id} still {sweep.status} after 2000 rounds")


@pytest.fixture
def sweeper(r: aioredis.Redis, history: LocalHistory) -> Sweeper:
    return Sweeper(r, history)


async def test_a_sweep_runs_its_trials_as_clones_never_more_than_parallel_at_once(
    r: aioredis.Redis, sweeper: Sweeper
) -> None:
    sweep_id = await sweeper.start(trials=12, parallel=3, sampler="tpe", seed=7)

    await sweeper.until_ended(sweep_id)

    sweep = await get_sweep(r, sweep_id)
    records = await read_trials(r, sweep_id)
    assert sweep.status is SweepStatus.DONE and sweep.counts.completed == 12
    assert [t["number"] for t in records] == list(range(12))
    assert sweeper.most_in_flight == 3
    tasks = [await store.get_task(r, t["task_id"]) for t in records]
    assert len({t.id for t in tasks}) == 12
    for record, task in zip(records, tasks, strict=True):
        assert task.parent == sweep.base and task.origin == f"sweep:{sweep_id}:{record['number']}"
        assert f"sweep:{sweep_id}" in task.tags
        assert task.params["Args"] == {
            "lr": record["params"]["Args/lr"],
            "layers": record["params"]["Args/layers"],
        }
    assert sweep.best is not None
    best = min(t["value"] for t in records)
    assert sweep.best.value == best


async def test_a_controller_killed_between_cloning_and_noting_spawns_the_trial_once(
    r: aioredis.Redis, sweeper: Sweeper
) -> None:
    sweep_id = await sweeper.start(trials=2, parallel=2, sampler="random", seed=1)
    sweep = await get_sweep(r, sweep_id)
    # Where a controller was when it died: trial 0 recorded, its clone made, the
    # clone's id not yet noted in the trial.
    await record_asked(r, sweep_id, 0, {"Args/lr": 0.5, "Args/layers": 3}, {}, time.time())
    made = await store.clone_task(
        r, sweep.base, CloneRequest(queue="q"), time.time(),
        idem=spawn_idem("sweep", sweep_id, 0), origin=origin("sweep", sweep_id, 0),
    )  # fmt: skip

    await sweeper.until_ended(sweep_id)

    records = await read_trials(r, sweep_id)
    assert records[0]["task_id"] == made.id and records[0]["status"] == "completed"
    assert len(await r.zrange(keys.parent_index(sweep.base), 0, -1)) == 2


async def test_the_median_pruner_aborts_clearly_bad_curves_at_an_early_step(
    r: aioredis.Redis, sweeper: Sweeper
) -> None:
    def bad_when_lr_high(params: dict[str, Any], step: int) -> float:
        return 10.0 if params["Args"]["lr"] > 0.5 else 1.0 / (step + 1)

    sweep_id = await sweeper.start(
        trials=12, parallel=2, sampler="random", seed=3, pruner="median",
        pruner_options={"n_startup_trials": 2, "n_warmup_steps": 1},
    )  # fmt: skip

    await sweeper.until_ended(sweep_id, bad_when_lr_high, steps=8)

    records = await read_trials(r, sweep_id)
    pruned = [t for t in records if t["status"] == "pruned"]
    assert pruned, records
    for trial in pruned:
        assert trial["params"]["Args/lr"] > 0.5
        assert trial["reason"].startswith("pruned at step ") and trial["reason"].endswith(
            " by median"
        )
        assert trial["step"] < 7
        assert (await store.get_task(r, trial["task_id"])).status is TaskStatus.ABORTED
    assert (await get_sweep(r, sweep_id)).counts.pruned == len(pruned)
    assert len(records) == 12


async def test_a_broken_base_stops_the_sweep_after_its_first_failures(
    r: aioredis.Redis, sweeper: Sweeper
) -> None:
    sweep_id = await sweeper.start(trials=20, parallel=2, sampler="random")

    await sweeper.until_ended(sweep_id, fail=True)

    sweep = await get_sweep(r, sweep_id)
    assert sweep.status is SweepStatus.FAILED
    assert (
        sweep.reason is not None and "trials all failed" in sweep.reason and "boom" in sweep.reason
    )
    assert sweep.counts.failed + sweep.counts.aborted == len(await read_trials(r, sweep_id)) <= 4


async def test_max_time_stops_the_sweep_and_aborts_its_trials(
    r: aioredis.Redis, sweeper: Sweeper
) -> None:
    sweep_id = await sweeper.start(trials=50, parallel=2, sampler="random", max_time_s=0.5)

    await sweeper.until_ended(sweep_id, steps=10**6)

    sweep = await get_sweep(r, sweep_id)
    assert sweep.status is SweepStatus.STOPPED and sweep.reason == "max_time_s 0.5 reached"
    assert sweep.counts.aborted >= 1
