"""Keep web pages elsewhere from driving a server that needs no token.

Without tokens the server answers anyone who reaches its loopback address, and a
browser is such a someone: a page on ``attacker.example`` can make the browser send
requests to ``127.0.0.1:8008``. Two checks close that door.

- **Host allow-list** (DNS rebinding): the page's own name can be made to resolve to
  127.0.0.1, and then the browser counts the server as same-origin and reads its
  answers. The ``Host`` header still carries the attacker's name, so a request for any
  name but loopback's, the bound address's and ``--allowed-hosts`` is refused (400).
- **Origin check** (cross-site requests): a state-changing request (any method but
  GET, HEAD, OPTIONS) that carries an ``Origin`` (or, without one, a ``Referer``) must
  come from this server's own origin, or from a page on a name in ``--allowed-hosts``
  (a proxy in front may rewrite ``Host``), else 403. Browsers send ``Origin`` on every
  cross-origin POST; the SDK, CLI and agents send none and are not affected.

And whatever the mode: a body sent as ``text/plain``, a form or ``multipart`` is
refused (415) on the API. Those are the types a page may send elsewhere without the
browser asking the server first (a CORS preflight, which this server never grants).

With tokens the first two checks are off unless ``--allowed-hosts`` is given: a bearer
token is not sent by the browser on its own, so a foreign page has nothing to ride on,
and a proxy in front may rewrite ``Host`` to any name.
"""

from functools import lru_cache
from urllib.parse import urlsplit

from starlette.types import Receive, Scope, Send

from runyard.models import API_PREFIX, ErrorCode
from runyard_server.api.errors import error_response
from runyard_server.config import Settings

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What a page may POST anywhere without a CORS preflight (the Fetch standard's list).
_SIMPLE_TYPES = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)
_UNSPECIFIED = ("0.0.0.0", "::", "")


@lru_cache(maxsize=256)
def hostname(netloc: str) -> str | None:
    """The lower-case host name of ``HOST[:PORT]`` (brackets off an IPv6 address).

    Cached: every request asks it of its ``Host``, and a server hears few names."""
    try:
        parts = urlsplit(f"//{netloc}")
        name = parts.hostname
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        return None
    return name.rstrip(".") if name else None


def allowed_hostnames(settings: Settings) -> frozenset[str] | None:
    """The names the server answers to; None when any name will do (tokens, no list)."""
    if settings.tokens and not settings.allowed_hosts:
        return None
    names = {*LOOPBACK_NAMES, *(h.lower() for h in settings.allowed_hosts)}
    if settings.host not in _UNSPECIFIED:
        names.add(settings.host.lower().strip("[]"))
    return frozenset(names)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _media_type(content_type: str) -> str:
    """The essence of a Content-Type (``text/plain`` of ``Text/Plain; charset=x``), as the
    Fetch standard compares it to decide whether a request needs a preflight."""
    return content_type.partition(";")[0].strip().lower()


class OriginPolicy:
    """Host allow-list, Origin check and no preflight-free body types (see the module);
    ``api.edge.EdgeMiddleware`` asks it of every HTTP request."""

    def __init__(self, settings: Settings) -> None:
        self.allowed = allowed_hostnames(settings)
        self.listed = frozenset(h.lower() for h in settings.allowed_hosts)

    async def refuse(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer a request the checks refuse (True); False lets it through."""
        refusal = self._refusal(scope)
        if refusal is None:
            return False
        status, code, detail = refusal
        await error_response(status, code, detail)(scope, receive, send)
        return True

    def _refusal(self, scope: Scope) -> tuple[int, ErrorCode, str] | None:
        host = _header(scope, b"host") or ""
        if self.allowed is not None and hostname(host) not in self.allowed:
            return (
                400,
                ErrorCode.BAD_REQUEST,
                f"this server does not answer to the host name {host[:100]!r}; use "
                "localhost or 127.0.0.1, or start it with --allowed-hosts NAME",
            )
        if scope["method"] in _SAFE_METHODS:
            return None
        source = _header(scope, b"origin") or _header(scope, b"referer")
        if self.allowed is not None and source and not self._trusted(source, host):
            return (
                403,
                ErrorCode.FORBIDDEN,
                f"a page on {source[:100]!r} may not change anything on this server; "
                "use the UI this server serves, or the CLI",
            )
        content_type = _header(scope, b"content-type")
        api = scope["path"].startswith(API_PREFIX + "/")
        if api and content_type and _media_type(content_type) in _SIMPLE_TYPES:
            return (
                415,
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                f"the API does not take {_media_type(content_type)} bodies; "
                "send JSON as application/json",
            )
        return None

    def _trusted(self, source: str, host: str) -> bool:
        """Whether the page at ``source`` (an Origin or Referer) is this server's or listed."""
        parts = urlsplit(source)
        if parts.scheme not in ("http", "https"):
            return False
        return parts.netloc.lower() == host.lower() or hostname(parts.netloc) in self.listed
