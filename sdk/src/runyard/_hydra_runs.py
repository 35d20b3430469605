"""What ``Task.init`` does when Hydra runs the script (the binding: ``capture/hydra_bind.py``).

A local run records the job's config sections; every run, local or under an agent,
uploads the job's ``.hydra`` folder when the job ends. In a multirun each job's
``Task.init`` makes a run of its own, a child of one task for the whole sweep (made
by the first job, ended when the process ends), and the job's end ends that run.
A run made before Hydra's main (``Task.init`` at the top of the script) records
each job that starts after it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from runyard import config
from runyard._notices import Notices
from runyard._run import Live
from runyard.capture import hydra_bind
from runyard.capture.hydra_bind import ARTIFACT, Job
from runyard.client import Client
from runyard.errors import RunyardError
from runyard.models import TaskCreate
from runyard.models.limits import MAX_TASK_NAME_CHARS

if TYPE_CHECKING:
    from runyard.task import Run

StartLocal = Callable[..., Live]
"""``start_local`` with everything but ``shape``, ``watch_exit`` and ``capture_output``."""


def rerun_overrides() -> list[str]:
    """Under an agent, before Hydra composes: the task's changed ``Hydra`` params as
    Hydra overrides (none for a script run by hand, or when the task cannot be read)."""
    cfg = config.load()
    if not cfg.task_id:
        return []
    try:
        with Client(cfg.server, cfg.token, timeout=5.0, retries=2) as client:
            task = client.tasks.get(cfg.task_id)
    except RunyardError as exc:
        Notices().once(
            "hydra",
            f"task {cfg.task_id} could not be read ({exc}): Hydra "
            "composes the config as recorded, without the task's changes",
        )
        return []
    overrides = hydra_bind.rerun_overrides(task.params)
    if overrides:
        Notices.info(f"the task's Hydra params, as Hydra overrides: {' '.join(overrides)}")
    return overrides


def start(start_local: StartLocal, job: Job | None, capture_output: bool) -> Live:
    """The local run ``Task.init`` makes: in a multirun job, a child of the sweep's task."""
    sweep = hydra_bind.current_sweep()
    if job is None or not job.multirun or sweep is None:
        return start_local(capture_output=capture_output)
    if sweep.parent is None:
        parent = start_local(capture_output=False)
        sweep.parent, sweep.parent_id = parent, parent.run.ensure_started()
    parent_id = sweep.parent_id

    def child(spec: TaskCreate) -> TaskCreate:
        script = spec.script.model_copy(update={"args": job.child_args(spec.script.args)})
        name = f"{spec.name} #{job.number}"[:MAX_TASK_NAME_CHARS]
        return spec.model_copy(update={"parent": parent_id, "name": name, "script": script})

    return start_local(capture_output=capture_output, shape=child, watch_exit=False)


def bind(run: Run, job: Job | None, *, local: bool) -> None:
    """Record ``job`` (or, with none running yet, each job that starts) on ``run``."""
    if job is None:
        hydra_bind.on_job_start(lambda started: _record(run, started, local))
        return
    _record(run, job, local)
    if local and job.multirun and hydra_bind.current_sweep() is not None:
        job.at_end(run.close)


def _record(run: Run, job: Job, local: bool) -> None:
    if local:
        for section, values in job.sections(lambda note: run.notices.once(note, note)).items():
            run.connect(values, section)
    job.at_end(lambda _outcome: _upload_hydra_dir(run, job))


def _upload_hydra_dir(run: Run, job: Job) -> None:
    with tempfile.TemporaryDirectory(prefix="runyard-hydra-") as scratch:
        packed = job.pack_hydra_dir(Path(scratch) / ARTIFACT)
        if packed is not None:
            run.upload_artifact(ARTIFACT, packed)
