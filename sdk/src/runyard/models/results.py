"""Results of a run: metric series with steps, and artifacts (files) stored by the server."""

from datetime import datetime

from pydantic import BaseModel, Field

from runyard.models.limits import MAX_METRIC_POINTS_PER_BATCH
from runyard.models.names import SeriesName
from runyard.models.strict import Strict


class MetricPoint(Strict):
    """One value of one series, e.g. ``val/acc`` at step 3."""

    series: SeriesName
    value: float = Field(allow_inf_nan=False)
    step: int | None = Field(default=None, ge=0)
    ts: float = Field(description="unix time the value was logged")


class MetricBatch(Strict):
    """``POST /tasks/{id}/metrics``."""

    points: list[MetricPoint] = Field(max_length=MAX_METRIC_POINTS_PER_BATCH)


class MetricValue(BaseModel):
    step: int | None = None
    value: float
    ts: float


class TaskMetrics(BaseModel):
    """``GET /tasks/{id}/metrics``: every series in logging order, and each one's last value."""

    series: dict[str, list[MetricValue]] = Field(default_factory=dict)
    final: dict[str, float] = Field(default_factory=dict)


class Artifact(BaseModel):
    """``GET /tasks/{id}/artifacts`` items; the file is at ``.../artifacts/{name}``."""

    name: str
    size: int
    sha256: str
    created: datetime


class BundleRef(BaseModel):
    """``POST /bundles``: where a git bundle of unpushed commits is stored."""

    sha256: str
    size: int
