"""Executors: how a claimed task runs, all behind one launch interface (``launch.py``).

``venv`` runs the entry point as a local process in a cached virtualenv; ``docker``
builds the venv inside the task's image and runs it in a container
(:class:`ContainerProcess`, supervised like a local process). ``prepare_engine``
checks the engine at agent start and removes containers an earlier agent of the
same name left behind. ``slurm`` submits each task as a batch job (:mod:`.slurm`);
its jobs outlive the agent, and ``ADOPTERS`` finds them again at the next start.
"""

from collections.abc import Callable

from runyard_agent.config import AgentSettings, ExecutorKind
from runyard_agent.executors.container import ContainerLaunch, ContainerProcess
from runyard_agent.executors.docker import docker_launch, prepare_engine
from runyard_agent.executors.launch import (
    Adopted,
    Ending,
    Executor,
    Launch,
    LaunchRequest,
    TaskHandle,
)
from runyard_agent.executors.slurm import adopt_jobs, slurm_launch
from runyard_agent.executors.venv import VenvLaunch, venv_launch

EXECUTORS: dict[ExecutorKind, Executor] = {
    "venv": venv_launch,
    "docker": docker_launch,
    "slurm": slurm_launch,
}
"""The executor for each ``--executor`` choice."""


def _nothing_left(settings: AgentSettings) -> list[Adopted]:
    return []


ADOPTERS: dict[ExecutorKind, Callable[[AgentSettings], list[Adopted]]] = {
    "venv": _nothing_left,
    "docker": _nothing_left,
    "slurm": adopt_jobs,
}
"""What each executor finds at agent start that an earlier agent left running:
a local process or container dies with its agent, a Slurm job does not."""

__all__ = [
    "ADOPTERS",
    "EXECUTORS",
    "Adopted",
    "ContainerLaunch",
    "ContainerProcess",
    "Ending",
    "Executor",
    "Launch",
    "LaunchRequest",
    "TaskHandle",
    "VenvLaunch",
    "docker_launch",
    "prepare_engine",
    "venv_launch",
]
