"""The command line and environment a task's entry point runs with."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from runyard.models import GangRank, Script, Task
from runyard_agent.errors import EnvironmentBuildError
from runyard_agent.slots import Allocation

# Agent settings are not the task's business (and RUNYARD_AGENT_FAKE_GPUS would mislead it).
_AGENT_PREFIX = "RUNYARD_AGENT_"


def task_command(script: Script, workdir: Path, python: Path) -> tuple[list[str], Path]:
    """``[python, entry_point, *args]`` and the directory to run it in.

    The entry point is relative to the repository root, the run directory is
    ``working_dir`` inside it. A missing file is an environment failure (stage ``code``),
    told before anything runs.
    """
    if not script.entry_point:
        raise EnvironmentBuildError("code", "the task has no script.entry_point to run")
    entry = workdir / script.entry_point
    cwd = workdir / script.working_dir
    if not entry.is_file():
        raise EnvironmentBuildError(
            "code", f"entry point {script.entry_point!r} is not a file in the checked-out code"
        )
    if not cwd.is_dir():
        raise EnvironmentBuildError(
            "code", f"working_dir {script.working_dir!r} is not a directory in the code"
        )
    return [str(python), str(entry), *script.args], cwd


def task_environment(
    base_env: Mapping[str, str],
    task: Task,
    *,
    python: Path,
    allocation: Allocation,
    server: str,
    token: str | None,
    gang: GangRank | None = None,
) -> dict[str, str]:
    """The agent's environment, plus ``environment.env``, plus what Runyard sets for the task.

    Runyard's own variables win over the task's: ``RUNYARD_TASK_ID``, ``RUNYARD_SERVER``,
    ``RUNYARD_TOKEN`` (the task token, else the agent's), ``CUDA_VISIBLE_DEVICES`` (its
    GPUs, empty for none, numbered like nvidia-smi), ``RUNYARD_GPU_MEMORY_FRACTION`` (for
    a share of a GPU) and ``PYTHONUNBUFFERED=1`` so output streams as it is printed. A
    rank of a multi-node task also gets what ``torch.distributed`` reads
    (:func:`gang_environment`).
    """
    env = {key: value for key, value in base_env.items() if not key.startswith(_AGENT_PREFIX)}
    env.update(task.environment.env)
    env.pop("PYTHONHOME", None)
    env["VIRTUAL_ENV"] = str(python.parent.parent)
    env["PATH"] = os.pathsep.join(p for p in (str(python.parent), env.get("PATH", "")) if p)
    env.update(
        RUNYARD_TASK_ID=task.id,
        RUNYARD_SERVER=server,
        CUDA_VISIBLE_DEVICES=allocation.cuda_visible_devices,
        CUDA_DEVICE_ORDER="PCI_BUS_ID",
        PYTHONUNBUFFERED="1",
    )
    allocation.apply_gpu_share(env)
    if token:
        env["RUNYARD_TOKEN"] = token
    else:
        env.pop("RUNYARD_TOKEN", None)
    if gang is not None:
        env.update(gang_environment(gang))
    return env


def gang_environment(gang: GangRank) -> dict[str, str]:
    """What ``torch.distributed`` reads, for one rank: ``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``NODE_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``.
    One process per node, so the rank is the node's and the local rank 0
    (``torchrun --nnodes`` reads ``NODE_RANK`` and the master's too)."""
    return {
        "RANK": str(gang.rank),
        "WORLD_SIZE": str(gang.world_size),
        "LOCAL_RANK": "0",
        "LOCAL_WORLD_SIZE": "1",
        "NODE_RANK": str(gang.rank),
        "MASTER_ADDR": gang.master_addr,
        "MASTER_PORT": str(gang.master_port),
    }
