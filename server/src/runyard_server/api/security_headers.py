"""Security headers on every response: API JSON, errors, the UI, its assets, SSE, docs.

The Content-Security-Policy lets a page load scripts, styles, images and API calls
from this server only; no inline script, no ``eval``, no plugins, no framing (a page
elsewhere cannot lay the UI under a click-jacking overlay). Styles come from files
too: the UI's code sets colours and sizes through the CSSOM (``el.style.x = ...``),
which a policy does not govern, and never writes a ``style`` attribute or element.
``data:`` images are for the icons swagger-ui's stylesheet embeds.

A pure ASGI middleware, not ``BaseHTTPMiddleware``: it touches only the start
message, so a streamed response (the log stream) passes through untouched.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # For browsers that predate frame-ancestors.
    (b"x-frame-options", b"DENY"),
)


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                # A response that set one itself keeps it (the 500 handler sets them all).
                present = {name.lower() for name, _ in headers}
                headers += [h for h in SECURITY_HEADERS if h[0] not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
