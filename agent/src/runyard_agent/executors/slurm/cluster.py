"""What the partition(s) the agent serves offer one task: the biggest node's CPUs,
memory and GPUs (``gpu`` GRES), read once at start with ``sinfo``."""

from __future__ import annotations

import re

from runyard.models import Gpu
from runyard_agent.config import AgentSettings
from runyard_agent.errors import ConfigError
from runyard_agent.executors.slurm import commands
from runyard_agent.executors.slurm.commands import SlurmError
from runyard_agent.resources import Machine

_GPU_GRES = re.compile(r"(?:^|,)gpu(?::([A-Za-z0-9_.-]+))?:(\d+)")


def slurm_machine(settings: AgentSettings) -> Machine:
    """The largest node of the served partitions, as the agent's machine; a task that
    fits it is claimed, and Slurm decides when and where it runs."""
    argv = ["sinfo", "--noheader", "--Node", "--format=%c|%m|%G"]
    if settings.slurm_partition:
        argv.append(f"--partition={settings.slurm_partition}")
    try:
        out = commands.run(argv)
    except SlurmError as exc:
        raise ConfigError(f"the slurm executor cannot read the cluster's nodes: {exc}") from None
    nodes = [parse_node(line) for line in out.splitlines() if line.strip()]
    if not nodes:
        where = settings.slurm_partition or "the default partition"
        raise ConfigError(f"Slurm lists no node in {where}")
    cpus, memory_mb, gpus, model = max(nodes, key=lambda n: (n[2], n[0], n[1]))
    return Machine(
        gpus=tuple(Gpu(index=i, name=model) for i in range(gpus)),
        cpus=float(cpus),
        memory_gb=round(memory_mb / 1024, 2),
        scheduled=True,
    )


def parse_node(line: str) -> tuple[int, int, int, str]:
    """(CPUs, memory MiB, GPUs, GPU model) of one ``%c|%m|%G`` line."""
    cpus, memory, gres = ([*line.split("|"), "", ""])[:3]
    found = _GPU_GRES.search(gres.strip())
    gpus = int(found.group(2)) if found else 0
    model = found.group(1) or "gpu" if found else ""
    return int(cpus.rstrip("+") or 0), int(memory.rstrip("+") or 0), gpus, model
