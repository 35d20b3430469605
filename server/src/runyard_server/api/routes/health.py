"""Probes for orchestrators and load balancers: never need a token.

``/healthz`` is readiness (this process answers and reaches Redis); ``/livez`` is
liveness (this process answers). They differ so that a Redis outage takes replicas out
of the load balancer without restarting every one of them.
"""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from runyard_server.api.deps import RedisDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(r: RedisDep) -> JSONResponse:
    await r.ping()
    return JSONResponse({"status": "ok"})


@router.get("/livez")
async def livez() -> JSONResponse:
    return JSONResponse({"status": "ok"})
