"""Executors other than the built-in ``venv`` one: the ``docker`` executor.

``docker_launch`` builds what a task needs in a container and returns a
:class:`ContainerLaunch`; its :meth:`~ContainerLaunch.start` gives a
:class:`ContainerProcess` the runner supervises like a local process.
``prepare_engine`` checks the engine at agent start and removes containers an
earlier agent of the same name left behind.
"""

from runyard_agent.executors.container import ContainerLaunch, ContainerProcess
from runyard_agent.executors.docker import docker_launch, prepare_engine

__all__ = ["ContainerLaunch", "ContainerProcess", "docker_launch", "prepare_engine"]
