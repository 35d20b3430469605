"""The one HTTP transport under every client resource: retries and error mapping live here.

Failures are classified once, in :meth:`Transport.send`:

* **unsent** — the request surely did not reach the server (connection refused, name not
  found, connect timeout) or the server refused to look at it (429, 503). Always retried.
* **ambiguous** — the request may have been processed (connection reset mid-request, read
  timeout, 500/502/504). Retried only with ``Retry.ALWAYS``: requests the server treats as
  idempotent (GET, PATCH, DELETE, reports guarded by a lease token, log batches deduplicated
  by ``seq``, claims whose lost task comes back with the short first lease). Task creation
  and cloning use ``Retry.UNSENT`` because a retry after an ambiguous failure could create a
  second task.
* **final** — any other 4xx: never retried, raised as the matching :mod:`runyard.errors` class.

Waits between attempts follow :mod:`runyard.retry` (exponential, full jitter), and a
``Retry-After`` header wins. A loop that retries by itself with its own backoff (claims,
heartbeats, registration, log and metric batches) sends each attempt once
(``retries=0``): retries nested under it would start again from the shortest wait at
every call of the loop, and agents that lost the server together would come back
together. Reports keep the transport's retries, since a 409 that echoes a lost answer
(``ApiError.retried``) is recognised only within one call.

``server`` may list several replicas, comma-separated (``http://a:8008,http://b:8008``),
all in front of one Redis: a failure with no HTTP answer (refused, reset, timed out)
moves the transport on to the next one for the retry, and it stays there while that
one answers. Any replica serves any request, so a retry there is the same retry.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import enum
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import IO, Any, TypeVar

import requests
import urllib3
from pydantic import BaseModel, TypeAdapter, ValidationError

from runyard._version import __version__
from runyard.errors import ApiError, ProtocolError, RunyardError, ServerUnreachable, error_for
from runyard.models.routes import API_PREFIX
from runyard.retry import Backoff

M = TypeVar("M", bound=BaseModel)

_JSON_LIST = TypeAdapter(list[dict[str, Any]])
_REFUSED = frozenset({429, 503})
_MAX_RETRY_AFTER_S = 60.0
_OCTETS = "application/octet-stream"


def seg(value: str) -> str:
    """``value`` escaped as one URL path segment, so an id can never change the route."""
    return urllib.parse.quote(value, safe="")


class Retry(enum.Enum):
    """Which failures a request may be retried after (see the module docstring)."""

    ALWAYS = "always"
    UNSENT = "unsent"


class _Attempt(Exception):
    """One failed attempt: whether it may be retried, and whether it may have landed."""

    def __init__(
        self, reason: str, *, landed: bool, response: requests.Response | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.landed = landed
        self.response = response


@dataclasses.dataclass(frozen=True)
class _Request:
    method: str
    path: str
    params: dict[str, Any]
    payload: dict[str, Any] | None
    raw: IO[bytes] | bytes | None
    stream: bool
    content_type: str


class Transport:
    """Sends JSON requests to ``{server}/api/v1`` with auth, timeouts, retries and error mapping.

    ``server`` is one URL or several, comma-separated (see the module docstring).
    """

    def __init__(
        self,
        server: str,
        token: str | None,
        *,
        timeout: float = 10.0,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        self.servers = split_servers(server)
        self._current = 0
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max(backoff, max_backoff)
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"runyard/{__version__}"
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    @property
    def server(self) -> str:
        """The URL requests go to now (the first of ``servers`` until it fails)."""
        return self.servers[self._current]

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: BaseModel | dict[str, Any] | None = None,
        retry: Retry = Retry.ALWAYS,
        read_timeout: float | None = None,
        retries: int | None = None,
        content: Callable[[], IO[bytes]] | None = None,
        json_bytes: bytes | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send one request, retrying per ``retry``; return a 2xx response or raise.

        ``retries`` overrides the transport's retry count for this request. ``content``
        opens a raw body (a file upload) afresh for each attempt; ``json_bytes`` is a
        body already encoded as JSON (a log batch); ``stream`` leaves a
        large response body unread for the caller to iterate (and close).
        """
        payload = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        landed = False
        backoff = Backoff(self.backoff, self.max_backoff)
        attempts = (self.retries if retries is None else max(0, retries)) + 1
        for attempt in range(attempts):
            try:
                with contextlib.ExitStack() as stack:
                    raw = stack.enter_context(content()) if content is not None else json_bytes
                    kind = "application/json" if json_bytes is not None else _OCTETS
                    request = _Request(method, path, clean, payload, raw, stream, kind)
                    response = self._once(request, read_timeout)
            except _Attempt as failed:
                landed = landed or failed.landed
                if failed.response is None:
                    self._fail_over()
                last_try = attempt == attempts - 1
                if last_try or (failed.landed and retry is Retry.UNSENT):
                    raise self._give_up(method, path, failed, attempt + 1, landed) from None
                time.sleep(self._delay(backoff, failed.response))
                continue
            if response.status_code >= 400:
                raise _api_error(response, retried=landed)
            return response
        raise AssertionError("unreachable: the loop returns or raises")

    def call(self, into: type[M], method: str, path: str, **kwargs: Any) -> M:
        """:meth:`send` and parse the JSON body as ``into``."""
        response = self.send(method, path, **kwargs)
        with _expect_shape(response):
            return into.model_validate_json(response.content)

    def call_list(self, into: type[M], method: str, path: str, **kwargs: Any) -> list[M]:
        """:meth:`send` and parse the JSON body as a list of ``into``."""
        response = self.send(method, path, **kwargs)
        with _expect_shape(response):
            return [
                into.model_validate(item) for item in _JSON_LIST.validate_json(response.content)
            ]

    def _once(self, request: _Request, read_timeout: float | None) -> requests.Response:
        """One attempt: a response that is final (2xx or 4xx), or :class:`_Attempt`."""
        read = self.timeout if read_timeout is None else read_timeout
        headers = {"Content-Type": request.content_type} if request.raw is not None else None
        try:
            response = self._session.request(
                request.method,
                self.server + API_PREFIX + request.path,
                params=request.params,
                json=request.payload,
                data=request.raw,
                headers=headers,
                timeout=(self.timeout, read),
                stream=request.stream,
            )
        except requests.exceptions.ConnectTimeout:
            raise _Attempt(f"connect timed out after {self.timeout:g}s", landed=False) from None
        except requests.exceptions.ReadTimeout:
            raise _Attempt(f"no response within {read:g}s", landed=True) from None
        except requests.exceptions.ConnectionError as exc:
            reason, sent = _describe_connection_error(exc)
            raise _Attempt(reason, landed=sent) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
            raise RunyardError(
                f"{self.server!r} is not a valid server URL ({exc}); "
                "set RUNYARD_SERVER to http://HOST:PORT"
            ) from None
        except requests.RequestException as exc:
            raise _Attempt(f"{type(exc).__name__}: {exc}", landed=True) from None
        status = response.status_code
        if status in _REFUSED or status >= 500:
            raise _Attempt(f"HTTP {status}", landed=status not in _REFUSED, response=response)
        return response

    def _give_up(
        self, method: str, path: str, failed: _Attempt, attempts: int, landed: bool
    ) -> RunyardError:
        if failed.response is not None:
            return _api_error(failed.response, retried=landed)
        reason = f"{method} {API_PREFIX}{path}: {failed.reason}"
        if failed.landed:
            reason += " (the request may have been processed; check before sending it again)"
        return ServerUnreachable(",".join(self.servers), reason, attempts)

    def _fail_over(self) -> None:
        """No answer from this replica: the next attempt goes to the next one listed."""
        self._current = (self._current + 1) % len(self.servers)

    def _delay(self, backoff: Backoff, response: requests.Response | None) -> float:
        wait = backoff.next()
        if response is not None:
            after = _retry_after(response.headers.get("Retry-After"))
            if after is not None:
                return min(after, _MAX_RETRY_AFTER_S)
        return wait


def split_servers(server: str) -> list[str]:
    """The URLs of a comma-separated ``server`` setting, in order; at least one."""
    servers = [url.strip() for url in server.split(",") if url.strip()]
    if not servers:
        raise RunyardError("no server URL given; set RUNYARD_SERVER to http://HOST:PORT")
    return servers


@contextlib.contextmanager
def _expect_shape(response: requests.Response) -> Iterator[None]:
    try:
        yield
    except ValidationError as exc:
        raise ProtocolError(
            f"unexpected response to {response.request.method} {response.url}: {exc}. "
            "Are the SDK and server versions compatible?"
        ) from None


def _api_error(response: requests.Response, *, retried: bool) -> ApiError:
    status = response.status_code
    code, detail = f"http_{status}", response.reason or "error"
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        if text:
            detail = text[:300]
    else:
        if isinstance(body, dict):
            code = str(body.get("error") or code)
            detail = _detail_text(body.get("detail", detail))
    return error_for(status, code, detail, retried=retried)


def _detail_text(detail: Any) -> str:
    if isinstance(detail, list):
        # FastAPI's validation shape: [{"loc": [...], "msg": "..."}, ...]
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []))
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", "")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


def _describe_connection_error(exc: requests.exceptions.ConnectionError) -> tuple[str, bool]:
    """A short reason, and whether the request may have reached the server.

    requests wraps what urllib3 raised (a ``MaxRetryError`` whose ``reason`` is the
    failure of the last connection attempt); anything but a failed connect may have
    sent the request.
    """
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, urllib3.exceptions.MaxRetryError):
        cause = cause.reason
    # Most specific first: a name error is a NewConnectionError, which is a connect timeout.
    if isinstance(cause, urllib3.exceptions.NameResolutionError):
        return "host name not found", False
    if isinstance(cause, urllib3.exceptions.NewConnectionError):
        return "connection refused", False
    if isinstance(cause, urllib3.exceptions.ConnectTimeoutError):
        return "connect timed out", False
    return "connection lost during the request", True


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    wait: float = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, wait)
