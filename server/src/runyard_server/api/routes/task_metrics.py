"""A task's metric series (``val/acc`` by step); Prometheus metrics are ``prometheus.py``."""

from fastapi import APIRouter

from runyard.models import MetricBatch, TaskMetrics
from runyard_server import store
from runyard_server.api.deps import HistoryDep, PrincipalDep, RedisDep, TaskIdDep
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.permissions import authorize_task

router = APIRouter(prefix="/tasks", tags=["metrics"], route_class=FiniteJSONRoute)


@router.post("/{task_id}/metrics")
async def append_metrics(
    task_id: TaskIdDep, body: MetricBatch, r: RedisDep, who: PrincipalDep
) -> dict[str, int]:
    who.require_task(task_id, "user")
    await authorize_task(r, who, "change", task_id)
    return {"accepted": await store.append_metrics(r, task_id, body)}


@router.get("/{task_id}/metrics")
async def read_metrics(
    task_id: TaskIdDep, r: RedisDep, who: PrincipalDep, history: HistoryDep
) -> TaskMetrics:
    who.require_task(task_id, "user")
    return await store.read_metrics(r, history, task_id)
