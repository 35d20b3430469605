"""``client.users``: named users, for admins (``/users``)."""

from __future__ import annotations

from runyard.client._http import Transport, seg
from runyard.models import User, UserPatch, UserRole


class Users:
    """List users, change a role, remove a user (admins only; users are added with
    ``runyard-server admin user add``)."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def list(self) -> list[User]:
        """Every named user and their role."""
        return self._http.call_list(User, "GET", "/users")

    def set_role(self, name: str, role: UserRole) -> User:
        """Give user ``name`` another role; it counts from their next request."""
        return self._http.call(User, "PATCH", f"/users/{seg(name)}", body=UserPatch(role=role))

    def remove(self, name: str) -> None:
        """Remove user ``name``: every token of theirs stops working at once."""
        self._http.send("DELETE", f"/users/{seg(name)}")
