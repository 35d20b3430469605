"""Liveness for probes and load balancers: never needs a token."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from runyard_server.api.deps import RedisDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(r: RedisDep) -> JSONResponse:
    await r.ping()
    return JSONResponse({"status": "ok"})
