"""``client.audit``: the audit trail of state-changing requests (``/audit``)."""

from __future__ import annotations

from typing import Any

from runyard.client._http import Transport
from runyard.models import AuditEntry, AuditPage


class Audit:
    """Who changed what, newest first; readable with a user token."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def list(self, since: float, user: str | None = None, limit: int = 1000) -> list[AuditEntry]:
        """Entries at or after ``since`` (unix seconds), of caller ``user`` when given."""
        params: dict[str, Any] = {"since": since, "limit": limit}
        if user is not None:
            params["user"] = user
        return self._http.call(AuditPage, "GET", "/audit", params=params).entries
