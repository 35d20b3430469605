"""Purging old tasks: ``POST /tasks/purge``."""

from pydantic import BaseModel, Field

from runyard.models.names import Name, TaskId
from runyard.models.strict import Strict

MAX_PURGE = 1000
"""Tasks one purge call deletes at most; ``PurgeResult.more`` says to call again."""


class PurgeRequest(Strict):
    """Delete final tasks (record, output, artifacts) finished over ``older_than_days`` ago."""

    older_than_days: float = Field(gt=0)
    project: Name | None = None
    dry_run: bool = Field(default=False, description="only list what would be deleted")


class PurgeResult(BaseModel):
    tasks: list[TaskId] = Field(description="the tasks deleted (or, on a dry run, that would be)")
    more: bool = Field(description=f"more than {MAX_PURGE} matched: call again for the rest")
