"""Quotas and fair-share weights per user and per project (``/quotas``)."""

from typing import Literal

from pydantic import BaseModel, Field

from runyard.models.strict import Strict

QuotaKind = Literal["user", "project"]


class QuotaUpdate(Strict):
    """``PUT /quotas/users/{name}`` or ``/quotas/projects/{name}``: the whole quota (an
    absent or null field is no limit; weight 1)."""

    max_running: int | None = Field(
        default=None, ge=0, description="most tasks of theirs running at once"
    )
    max_gpus: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="most GPUs their running tasks hold at once (a share counts as its share)",
    )
    weight: float | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        allow_inf_nan=False,
        description="a user's fair-share weight: twice the weight, twice the share (users only)",
    )


class Quota(BaseModel):
    """A user's or project's quota and what it runs now. A task over a quota is not
    refused: it stays queued until its owner's (and project's) running tasks leave room."""

    kind: QuotaKind
    name: str
    max_running: int | None = None
    max_gpus: float | None = None
    weight: float = 1.0
    running: int = Field(default=0, description="tasks running now")
    gpus: float = Field(default=0.0, description="GPUs those tasks hold")
