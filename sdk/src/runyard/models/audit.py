"""The audit trail: one entry per state-changing API request (``GET /audit``)."""

from pydantic import BaseModel, Field


class AuditEntry(BaseModel):
    """Who did what, when and from where; never a header, query string or body."""

    id: str = Field(description="the stream entry id; its first part is the time in ms")
    at: float = Field(description="when the request was answered (unix seconds)")
    who: str = Field(description="the caller the auth layer resolved (a role or a user name)")
    method: str
    route: str = Field(description="the route template, e.g. /api/v1/tasks/{task_id}/abort")
    object: str = Field(description="the path parameters, name=value joined by spaces")
    status: int = Field(description="the HTTP status code answered")
    request_id: str
    client: str = Field(description="the client address the server saw")


class AuditPage(BaseModel):
    """Entries newest first, from the live stream and then the archive."""

    entries: list[AuditEntry]
