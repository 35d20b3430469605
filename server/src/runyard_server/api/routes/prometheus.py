"""``GET /metrics``: Prometheus text format, at the top level where scrapers look.

Needs a user or a metrics token once tokens are configured: queue names and counts
are the deployment's business. A metrics token (``--token metrics:SECRET``) reads
this and nothing else, for scrapers.
"""

import time

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from runyard_server.api.deps import MetricsDep, PrincipalDep, RedisDep, SettingsDep
from runyard_server.store.stats import read_stats

router = APIRouter(tags=["prometheus"])


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(
    r: RedisDep, who: PrincipalDep, settings: SettingsDep, server_metrics: MetricsDep
) -> Response:
    """Queue depth and oldest wait per queue, tasks by status, workers, lease expiries,
    log bytes, and this process's claim latency histogram."""
    who.require("user", "metrics")
    stats = await read_stats(r, time.time(), settings.alive_after_s)
    return Response(server_metrics.render(stats), media_type=CONTENT_TYPE_LATEST)
