"""Where the HTTP API lives; the SDK, the server and the web UI (through its page) use this."""

API_PREFIX = "/api/v1"
"""Every route of the versioned API is under this path; ``/metrics`` and the UI are not."""

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
"""The header a create or clone carries so that repeating it makes one task, not two: the
server answers a repeat with the task the first request made (docs/api.md)."""
