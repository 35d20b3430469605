"""Security headers on every response: API JSON, errors, the UI, its assets, SSE, docs.

The Content-Security-Policy lets a page load scripts, styles, images and API calls
from this server only; no inline script, no ``eval``, no plugins, no framing (a page
elsewhere cannot lay the UI under a click-jacking overlay). Styles come from files
too: the UI's code sets colours and sizes through the CSSOM (``el.style.x = ...``),
which a policy does not govern, and never writes a ``style`` attribute or element.
``data:`` images are for the icons swagger-ui's stylesheet embeds.

``api.edge.EdgeMiddleware`` adds them to the start message of every response, so a
streamed response (the log stream) passes through untouched.
"""

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


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` (lower-case names, as ASGI has them) and each of :data:`SECURITY_HEADERS`
    the response did not set itself (the 500 handler sets them all)."""
    present = {name for name, _ in headers}
    return headers + [h for h in SECURITY_HEADERS if h[0] not in present]
