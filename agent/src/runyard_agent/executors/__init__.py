"""Executors: how a claimed task runs, all behind one launch interface (``launch.py``).

``venv`` runs the entry point as a local process in a cached virtualenv; ``docker``
builds the venv inside the task's image and runs it in a container
(:class:`ContainerProcess`, supervised like a local process). ``prepare_engine``
checks the engine at agent start and removes containers an earlier agent of the
same name left behind.
"""

from runyard_agent.config import ExecutorKind
from runyard_agent.executors.container import ContainerLaunch, ContainerProcess
from runyard_agent.executors.docker import docker_launch, prepare_engine
from runyard_agent.executors.launch import Executor, Launch, LaunchRequest, TaskHandle
from runyard_agent.executors.venv import VenvLaunch, venv_launch

EXECUTORS: dict[ExecutorKind, Executor] = {"venv": venv_launch, "docker": docker_launch}
"""The executor for each ``--executor`` choice."""

__all__ = [
    "EXECUTORS",
    "ContainerLaunch",
    "ContainerProcess",
    "Executor",
    "Launch",
    "LaunchRequest",
    "TaskHandle",
    "VenvLaunch",
    "docker_launch",
    "prepare_engine",
    "venv_launch",
]
