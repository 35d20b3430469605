"""``client.tokens``: the caller's API tokens (``/tokens``) and who the caller is (``/me``)."""

from __future__ import annotations

from runyard.client._http import Transport, seg
from runyard.models import Me, TokenCreate, TokenCreated, TokenInfo


class Tokens:
    """Named API tokens: the secret is shown once, at creation."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def me(self) -> Me:
        """Who the server takes this client to be."""
        return self._http.call(Me, "GET", "/me")

    def create(
        self, name: str = "default", expires_in_s: int | None = None, pool: str | None = None
    ) -> TokenCreated:
        """A new token for the caller, or (admins) for agent pool ``pool``."""
        body = TokenCreate(name=name, expires_in_s=expires_in_s, pool=pool)
        return self._http.call(TokenCreated, "POST", "/tokens", body=body)

    def list(self) -> list[TokenInfo]:
        """The caller's tokens (an admin's: every token), without their secrets."""
        return self._http.call_list(TokenInfo, "GET", "/tokens")

    def revoke(self, token_id: str) -> None:
        """Revoke a token: it stops working at once."""
        self._http.send("DELETE", f"/tokens/{seg(token_id)}")
