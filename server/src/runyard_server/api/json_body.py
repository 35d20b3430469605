"""JSON request bodies that hold only finite numbers.

Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e999`` (which overflows to
``inf``). None of them is JSON a client can read back: a log line stamped ``inf``
was stored, then every read of the task's log failed. Every router whose routes
take a JSON body uses ``FiniteJSONRoute``, so such a body is a 400 before any
model sees it.
"""

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def loads_finite(body: bytes) -> Any:
    """``json.loads`` that refuses non-finite numbers (and integers too long to read)."""
    try:
        return json.loads(body, parse_float=_finite_float, parse_constant=_no_constant)
    except json.JSONDecodeError:
        raise
    except ValueError as error:
        # FastAPI turns a JSONDecodeError into our 400 "malformed JSON body".
        raise json.JSONDecodeError(str(error), body.decode(errors="replace"), 0) from error


class _FiniteJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_finite(await self.body())
        return self._json


class FiniteJSONRoute(APIRoute):
    """An ``APIRoute`` whose request body is parsed by :func:`loads_finite`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(_FiniteJSONRequest(request.scope, request.receive))

        return route
