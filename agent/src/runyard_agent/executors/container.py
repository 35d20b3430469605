"""A task running in a container, supervised like a local process.

:class:`ContainerProcess` offers what the runner uses of a ``TaskProcess`` (``pid``,
``stdout``/``stderr`` pipes, ``returncode``, ``wait``, ``terminate``, ``kill``), so
the runner, the log readers and the shipper work unchanged:

- output: the agent attaches to the container *before* starting it (nothing printed
  early is lost, and no log driver is needed) and a pump thread copies the
  multiplexed stream into two OS pipes, read by the usual log readers;
- stop: ``terminate`` is ``docker stop`` (SIGTERM to the container's init, which
  forwards it; SIGKILL after the grace period); ``kill`` is SIGKILL at once;
- exit codes: the engine reports death by signal N as 128+N, turned back into the
  negative codes of ``subprocess`` so the log says ``killed by SIGKILL``;
- clean-up: once the container exited and its output is drained, it is removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from runyard_agent.executors.docker_engine import engine_error

if TYPE_CHECKING:
    import docker

    from runyard_agent.executors.launch import Ending, Flush

log = logging.getLogger(__name__)

_PUMP_JOIN_S = 10.0
_SIGNAL_RANGE = range(129, 129 + 64)


@dataclass
class ContainerLaunch:
    """Everything needed to create a task's container; :meth:`start` runs it."""

    client: docker.DockerClient
    image: str
    command: list[str]
    working_dir: str
    environment: dict[str, str]
    volumes: dict[str, dict[str, str]]
    labels: dict[str, str]
    user: str
    device_requests: list[Any] = field(default_factory=list)

    def start(self) -> ContainerProcess:
        """Create the container, attach to its output, start it."""
        import docker

        try:
            container = self.client.containers.create(
                self.image,
                self.command,
                working_dir=self.working_dir,
                environment=self.environment,
                volumes=self.volumes,
                labels=self.labels,
                user=self.user,
                network_mode="host",
                init=True,
                device_requests=self.device_requests or None,
            )
        except docker.errors.DockerException as exc:
            self.client.close()
            raise engine_error(f"could not create a container of {self.image}", exc) from None
        try:
            stream = container.attach(stdout=True, stderr=True, stream=True, demux=True)
            container.start()
            container.reload()
        except docker.errors.DockerException as exc:
            with contextlib.suppress(docker.errors.DockerException):
                container.remove(force=True)
            self.client.close()
            raise engine_error(f"could not start the container of {self.image}", exc) from None
        return ContainerProcess(container, stream)

    def discard(self) -> None:
        """Close the engine connection of a container that will not be created."""
        self.client.close()


class ContainerProcess:
    """A started container: its output as pipes, its exit code, and how to stop it."""

    def __init__(self, container: Any, stream: Any) -> None:
        self.container = container
        self._pid = int(container.attrs["State"].get("Pid") or 0)
        self._returncode: int | None = None
        self._exited = threading.Event()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        self._stdout = os.fdopen(out_read, "rb", buffering=0)
        self._stderr = os.fdopen(err_read, "rb", buffering=0)
        self._pump = threading.Thread(
            target=_pump, args=(stream, out_write, err_write), name="container-out", daemon=True
        )
        self._pump.start()
        threading.Thread(target=self._wait_and_remove, name="container-wait", daemon=True).start()

    @property
    def pid(self) -> int:
        """The host pid of the container's init process (0 once it is gone)."""
        return self._pid

    @property
    def stdout(self) -> IO[bytes]:
        """The task's standard output, as a pipe."""
        return self._stdout

    @property
    def stderr(self) -> IO[bytes]:
        """The task's standard error, as a pipe."""
        return self._stderr

    @property
    def returncode(self) -> int | None:
        """The exit code once the container exited (negative: killed by that signal)."""
        return self._returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the container to exit; its exit code, or None when ``timeout`` passed."""
        self._exited.wait(timeout)
        return self._returncode

    def terminate(self, grace_s: float) -> int:
        """SIGTERM the container, SIGKILL it after ``grace_s``; the exit code."""
        short_id = self.container.short_id
        log.info("stopping container %s: SIGTERM, SIGKILL after %gs", short_id, grace_s)
        self._engine_call(lambda: self.container.stop(timeout=max(1, round(grace_s))))
        return self._wait_forever()

    def kill(self) -> int:
        """SIGKILL the container now; the exit code."""
        self._engine_call(lambda: self.container.kill(signal=signal.SIGKILL.name))
        return self._wait_forever()

    @property
    def ending(self) -> Ending | None:
        """Always None: a container ends by its own exit code."""
        return None

    @property
    def state_detail(self) -> str | None:
        """Always None: a started container runs."""
        return None

    def leave(self, flush: Flush) -> bool:
        """False: a container cannot outlive the agent."""
        return False

    def _wait_forever(self) -> int:
        code = self.wait()
        assert code is not None
        return code

    def _engine_call(self, call: Any) -> None:
        import docker

        # A container that already exited (or was removed) needs no signal.
        try:
            call()
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                log.warning("container %s: %s", self.container.short_id, exc)

    def _wait_and_remove(self) -> None:
        import docker

        try:
            code = int(self.container.wait()["StatusCode"])
        except docker.errors.DockerException as exc:
            log.warning("lost track of container %s: %s", self.container.short_id, exc)
            code = 128 + signal.SIGKILL
        self._pump.join(_PUMP_JOIN_S)
        with contextlib.suppress(docker.errors.DockerException):
            self.container.remove(force=True)
        self.container.client.close()
        self._returncode = -(code - 128) if code in _SIGNAL_RANGE else code
        self._exited.set()


def _pump(stream: Any, out_fd: int, err_fd: int) -> None:
    """Copy the demultiplexed attach stream into the two pipes until the container exits."""
    try:
        for out, err in stream:
            if out:
                _write_all(out_fd, out)
            if err:
                _write_all(err_fd, err)
    except Exception as exc:  # any transport error ends the stream the same way
        log.warning("container output stream ended early: %s", exc)
    finally:
        os.close(out_fd)
        os.close(err_fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
