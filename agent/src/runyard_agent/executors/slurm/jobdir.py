"""A Slurm job's directory on the shared filesystem: what the agent and the job exchange.

``spec.json`` (mode 600: it holds the task token and the agent's settings) tells the
job on the compute node what to build and run; the job writes back ``notes`` (the
environment build's lines), ``stdout``/``stderr`` (Slurm's output files), ``installed.json``,
``failed.json`` (the build failed: stage and message) and ``exit_code`` (the entry
point's, once it ended). ``resume.json`` is the agent's own: how far its console was
shipped when it left the job to Slurm, for the next agent to carry on from.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from runyard.models import Task
from runyard_agent.config import AgentSettings

SPEC = "spec.json"
SCRIPT = "job.sh"
NOTES = "notes"
STDOUT = "stdout"
STDERR = "stderr"
INSTALLED = "installed.json"
FAILED = "failed.json"
EXIT_CODE = "exit_code"
RESUME = "resume.json"
NAME_PREFIX = "ry."
_TASK_ATTEMPT = re.compile(r"([A-Za-z0-9_-]+)\.(\d+)")


class JobSpec(BaseModel):
    """What the job on the compute node needs, and what a later agent re-adopts it with."""

    task: Task
    lease_token: str
    task_token: str | None
    worker_id: str
    workdir: Path
    settings: dict[str, Any]
    """The agent's settings with secrets in clear (the file is mode 600)."""


class Resume(BaseModel):
    """Where the console of a job left to Slurm was shipped up to (byte offsets)."""

    adoptions: int = 0
    offsets: dict[str, int] = {}


def job_name(settings: AgentSettings, task: Task) -> str:
    """``ry.AGENT.TASK.ATTEMPT``: whose job it is and for which attempt (re-adoption)."""
    return f"{NAME_PREFIX}{settings.name}.{task.id}.{task.attempt}"


def parse_job_name(name: str, agent: str) -> tuple[str, int] | None:
    """(task id, attempt) of one of ``agent``'s job names, else None."""
    prefix = f"{NAME_PREFIX}{agent}."
    # A task id has no dot: agent "a" does not take the jobs of agent "a.1".
    found = _TASK_ATTEMPT.fullmatch(name[len(prefix) :]) if name.startswith(prefix) else None
    return (found.group(1), int(found.group(2))) if found else None


def job_dir(settings: AgentSettings, task: Task) -> Path:
    """The job's directory (under the work root, on the shared filesystem)."""
    return settings.work_root / "slurm" / f"{task.id}.{task.attempt}"


def write_spec(folder: Path, spec: JobSpec) -> None:
    """``spec.json``, readable by the agent's user only."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / SPEC
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(spec.model_dump_json())


def read_spec(folder: Path) -> JobSpec:
    """The job's ``spec.json``."""
    return JobSpec.model_validate_json((folder / SPEC).read_text())


def settings_in_clear(settings: AgentSettings) -> dict[str, Any]:
    """The settings as JSON values, secrets (token, index URLs) in clear."""

    def clear(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {k: clear(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clear(v) for v in value]
        return value

    dumped = settings.model_dump(exclude={"config"})
    return {key: clear(value) for key, value in dumped.items() if value is not None}


def batch_script(settings: AgentSettings, task: Task, folder: Path, python: Path) -> str:
    """The ``sbatch`` script: resources from the task, everything else from the operator.

    Only numbers come from the task (nodes, CPUs, memory and GPUs per node, its id and
    attempt): nothing a task records can add an option or a shell word to the script.
    """
    needs = task.resources
    lines = [
        "#!/bin/sh",
        f"#SBATCH --job-name={job_name(settings, task)}",
        f"#SBATCH --output={folder / STDOUT}",
        f"#SBATCH --error={folder / STDERR}",
        f"#SBATCH --chdir={folder}",
        # A multi-node task: one rank per node, started by ``srun`` (``node``, ``rank``).
        f"#SBATCH --nodes={needs.nodes}",
        "#SBATCH --ntasks-per-node=1",
        # A node failure or preemption comes back to Runyard, which requeues the task.
        "#SBATCH --no-requeue",
    ]
    if needs.cpus > 0:
        lines.append(f"#SBATCH --cpus-per-task={math.ceil(needs.cpus)}")
    if needs.memory_gb > 0:
        lines.append(f"#SBATCH --mem={math.ceil(needs.memory_gb * 1024)}M")
    if needs.gpus > 0:
        lines.append(f"#SBATCH --gres=gpu:{math.ceil(needs.gpus)}")
    if settings.slurm_time_limit_s is not None:
        minutes, seconds = divmod(settings.slurm_time_limit_s, 60)
        lines.append(f"#SBATCH --time={minutes}:{seconds:02d}")
    for option, value in (
        ("partition", settings.slurm_partition),
        ("account", settings.slurm_account),
        ("qos", settings.slurm_qos),
    ):
        if value:
            lines.append(f"#SBATCH --{option}={value}")
    lines.extend(f"#SBATCH {line}" for line in settings.slurm_sbatch_lines)
    command = [str(python), "-m", "runyard_agent.executors.slurm.node", str(folder)]
    lines.append(f"exec {shlex.join(command)}")
    return "\n".join(lines) + "\n"


def read_json(path: Path) -> Any:
    """A JSON file's value, or None when it is not (yet) there."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
