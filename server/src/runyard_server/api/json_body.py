"""JSON request bodies that hold only finite numbers.

Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e999`` (which overflows to
``inf``). None of them is JSON a client can read back: a log line stamped ``inf``
was stored, then every read of the task's log failed. Every router whose routes
take a JSON body uses ``FiniteJSONRoute``, so such a body is a 400 before any
model sees it.
"""

import json
import math
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError


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


M = TypeVar("M", bound=BaseModel)


async def parse_body(request: Request, model: type[M]) -> M:
    """The body as ``model``, parsed and validated in one pass of pydantic's core.

    For the hottest route (log batches, up to 10,000 lines): FastAPI's way, ``json``
    then validating the dicts, costs twice the CPU. Errors are FastAPI's (a 400 for
    malformed JSON, else a 422 naming the field). Non-finite numbers pass the parse:
    the route refuses them with :func:`require_finite`.
    """
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from None


def require_finite(numbers: Iterable[float]) -> None:
    """The 400 :func:`loads_finite` gives, for a body :func:`parse_body` read."""
    for number in numbers:
        if not math.isfinite(number):
            error: dict[str, Any] = {"type": "json_invalid", "loc": ("body",)}
            error["ctx"] = {"error": f"number {number} is out of range"}
            raise RequestValidationError([error])


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a body read with :func:`parse_body` as ``model``.

    Its nested models are referenced under ``components`` (another route must bring
    them there, as ``LogPage`` does ``LogLine``)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}
