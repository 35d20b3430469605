"""``client.pipelines``: define pipelines, run them, follow, abort and clone runs
(``/pipelines``)."""

from __future__ import annotations

from typing import Any

from runyard.client._http import Transport, seg
from runyard.models import (
    Pipeline,
    PipelineCreate,
    PipelinePage,
    PipelineRun,
    PipelineRunPage,
    PipelineRunRequest,
)


class Pipelines:
    """Pipelines are DAGs of steps, each a task; a run starts each step once its parents
    completed, reusing earlier results where a step's content is unchanged."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def create(self, spec: PipelineCreate) -> Pipeline:
        """Store a pipeline definition (checked: the DAG, references, base tasks)."""
        return self._http.call(Pipeline, "POST", "/pipelines", body=spec)

    def get(self, pipeline_id: str) -> Pipeline:
        return self._http.call(Pipeline, "GET", f"/pipelines/{seg(pipeline_id)}")

    def run(
        self, pipeline_id: str, params: dict[str, Any] | None = None, *, no_cache: bool = False
    ) -> PipelineRun:
        """Start a run with ``params`` over the pipeline's defaults."""
        body = PipelineRunRequest(params=params or {}, no_cache=no_cache)
        return self._http.call(
            PipelineRun, "POST", f"/pipelines/{seg(pipeline_id)}/runs", body=body
        )

    def runs(self, pipeline_id: str | None = None, limit: int = 100) -> list[PipelineRun]:
        """The newest runs first (of one pipeline, when given)."""
        params: dict[str, Any] = {"limit": limit}
        if pipeline_id:
            params["pipeline"] = pipeline_id
        return self._http.call(PipelineRunPage, "GET", "/pipelines/runs", params=params).items

    def get_run(self, run_id: str) -> PipelineRun:
        return self._http.call(PipelineRun, "GET", f"/pipelines/runs/{seg(run_id)}")

    def abort_run(self, run_id: str) -> PipelineRun:
        """Abort a running run: its waiting steps are skipped, its tasks aborted."""
        return self._http.call(PipelineRun, "POST", f"/pipelines/runs/{seg(run_id)}/abort")

    def clone_run(
        self, run_id: str, params: dict[str, Any] | None = None, *, no_cache: bool = False
    ) -> PipelineRun:
        """Run the run's pipeline again with its parameters, ``params`` in their place."""
        body = PipelineRunRequest(params=params or {}, no_cache=no_cache)
        return self._http.call(
            PipelineRun, "POST", f"/pipelines/runs/{seg(run_id)}/clone", body=body
        )

    # Last: below this, ``list`` in an annotation would name the method.
    def list(self, limit: int = 100) -> list[Pipeline]:
        """The newest pipelines first."""
        page = self._http.call(PipelinePage, "GET", "/pipelines", params={"limit": limit})
        return page.items
