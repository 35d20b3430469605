"""Where the HTTP API lives; the SDK, the server and the web UI (through its page) use this."""

API_PREFIX = "/api/v1"
"""Every route of the versioned API is under this path; ``/metrics`` and the UI are not."""
