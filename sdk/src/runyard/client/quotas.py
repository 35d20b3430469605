"""``client.quotas``: per-user and per-project quotas and fair-share weights (``/quotas``)."""

from __future__ import annotations

from runyard.client._http import Transport, seg
from runyard.models import Quota, QuotaKind, QuotaUpdate


class Quotas:
    """A task over its owner's or project's quota waits in its queue; it is not refused."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def list(self) -> list[Quota]:
        """Every user and project with a quota or a running task, with what it runs now."""
        return self._http.call_list(Quota, "GET", "/quotas")

    def set(self, kind: QuotaKind, name: str, quota: QuotaUpdate) -> Quota:
        """Replace the quota of user or project ``name`` (admins only): a field left None
        is no limit (weight 1)."""
        return self._http.call(Quota, "PUT", f"/quotas/{kind}s/{seg(name)}", body=quota)
