"""The job on the compute node: ``python -m runyard_agent.executors.slurm.node JOB_DIR``.

It builds the task's environment exactly as the ``venv`` executor does, by calling it
(:func:`runyard_agent.executors.venv.venv_launch`) on this node, in the shared cache
directory the operator named (the same ``flock``s, so two nodes building one venv
build it once), then runs the entry point with its output going to the job's output
files, which the agent follows. A SIGTERM (``scancel --signal=TERM``, the time limit)
is passed on to the entry point's process group; its exit code is written to the job
directory before this process exits with it. A multi-node task's entry point runs under
``srun``, once per node, each rank's variables from Slurm's (:mod:`.rank`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import FrameType

from runyard.models import InstalledPackage
from runyard_agent.config import AgentSettings
from runyard_agent.environments.torch_builds import choose_build
from runyard_agent.errors import EnvironmentBuildError
from runyard_agent.executors.launch import LaunchRequest
from runyard_agent.executors.slurm import jobdir
from runyard_agent.executors.venv import venv_launch
from runyard_agent.resources import default_gpu_provider
from runyard_agent.slots import Allocation


def main(argv: list[str]) -> int:
    """Build, run, record the exit code; the process's own exit status."""
    folder = Path(argv[0])
    spec = jobdir.read_spec(folder)
    settings = AgentSettings(**spec.settings)
    task = spec.task
    notes = (folder / jobdir.NOTES).open("a", buffering=1)

    def record_installed(packages: list[InstalledPackage]) -> None:
        body = json.dumps([package.model_dump(mode="json") for package in packages])
        (folder / jobdir.INSTALLED).write_text(body)

    slurm_gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpus = default_gpu_provider(settings).detect() if slurm_gpus else []
    request = LaunchRequest(
        task=task,
        workdir=spec.workdir,
        allocation=Allocation((), task.resources.cpus, task.resources.memory_gb),
        settings=settings,
        token=spec.task_token or settings.token_value,
        base_env=os.environ,
        note=lambda line: print(line, file=notes),
        torch=choose_build(settings.torch_backend, len(gpus), None),
        record_installed=record_installed,
    )
    try:
        launch = venv_launch(request)
    except EnvironmentBuildError as exc:
        failed = {"stage": exc.stage, "message": exc.message}
        (folder / jobdir.FAILED).write_text(json.dumps(failed))
        return 3
    env = dict(launch.env)
    if slurm_gpus is not None:
        # Slurm chose this job's GPUs (--gres): they are the task's.
        env["CUDA_VISIBLE_DEVICES"] = slurm_gpus
    argv = launch.argv
    try:
        if task.resources.nodes > 1:
            argv, master = ranks_argv(argv), master_address()
            env.update(MASTER_ADDR=master[0], MASTER_PORT=str(master[1]))
        child = subprocess.Popen(
            argv,
            cwd=launch.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=(launch.venv.lock_fd,),
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        failed = {"stage": "start", "message": f"could not start {argv[0]}: {exc}"}
        (folder / jobdir.FAILED).write_text(json.dumps(failed))
        return 3
    finally:
        launch.venv.release()

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signum, forward)
    code = child.wait()
    partial = folder / f"{jobdir.EXIT_CODE}.part"
    partial.write_text(str(code))
    partial.replace(folder / jobdir.EXIT_CODE)
    return code if code >= 0 else 128 - code


def ranks_argv(argv: list[str]) -> list[str]:
    """The entry point once per node of the job (``srun``), each as its rank. A rank
    that fails ends the others (``--kill-on-bad-exit``): the task fails as one."""
    rank = [sys.executable, "-m", "runyard_agent.executors.slurm.rank"]
    return ["srun", "--kill-on-bad-exit=1", *rank, *argv]


def master_address() -> tuple[str, int]:
    """Rank 0's host (the job's first node: this one, where the batch step runs) and a
    port free on it now."""
    nodes = subprocess.run(
        ["scontrol", "show", "hostnames", os.environ["SLURM_JOB_NODELIST"]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    with socket.socket() as probe:
        probe.bind(("", 0))
        return nodes[0], int(probe.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
