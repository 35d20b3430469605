"""``client.projects``: a project's members and their roles (``/projects/{name}/members``)."""

from __future__ import annotations

from runyard.client._http import Transport, seg
from runyard.models import MemberSet, ProjectMember, ProjectRole


class Projects:
    """Project membership: viewers read, members change their own tasks, maintainers
    anyone's in the project and its members."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def members(self, project: str) -> list[ProjectMember]:
        """The project's members (empty: it lists none, so every member may act on it)."""
        return self._http.call_list(ProjectMember, "GET", f"/projects/{seg(project)}/members")

    def set_member(self, project: str, user: str, role: ProjectRole) -> list[ProjectMember]:
        """Give ``user`` ``role`` in ``project``; the members after the change."""
        path = f"/projects/{seg(project)}/members/{seg(user)}"
        return self._http.call_list(ProjectMember, "PUT", path, body=MemberSet(role=role))

    def remove_member(self, project: str, user: str) -> None:
        """Take ``user`` off ``project``."""
        self._http.send("DELETE", f"/projects/{seg(project)}/members/{seg(user)}")
