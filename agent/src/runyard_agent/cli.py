"""``runyard-agent``: claim tasks from a Runyard server and run them on this machine."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any, get_args

from runyard._version import __version__
from runyard.client import Client
from runyard_agent.cache_cli import cache_main
from runyard_agent.config import AgentSettings, ExecutorKind, settings_or_exit
from runyard_agent.errors import EXIT_CONFIG, ConfigError
from runyard_agent.gpu_provider import GpuProvider
from runyard_agent.resources import default_gpu_provider, detect_machine
from runyard_agent.worker import Agent

log = logging.getLogger("runyard_agent")


def build_parser() -> argparse.ArgumentParser:
    """The command line; every option also has a settings-file key and an environment variable."""
    parser = argparse.ArgumentParser(
        prog="runyard-agent",
        description="Claim tasks from a Runyard server and run them on this machine. "
        "SIGTERM drains (no new tasks, running ones finish); a second SIGTERM gives "
        "running tasks back to their queues. `runyard-agent cache list|prune` shows and "
        "shrinks the venv cache.",
    )
    add = parser.add_argument
    add("--server", help="server URL (RUNYARD_SERVER, default http://127.0.0.1:8008)")
    add("--token", help="agent token (RUNYARD_TOKEN)")
    add("--config", help="TOML settings file (RUNYARD_AGENT_CONFIG)")
    add("--queue", dest="queues", action="append", help="queue to serve, in order (repeatable)")
    add("--name", help="worker name (default: the host name)")
    add("--gpus", help="use only these GPU indices, e.g. 0,1")
    add("--cpu-only", action="store_const", const=True, help="use no GPUs")
    add(
        "--gpu-busy-mb",
        type=int,
        help="a GPU with more memory than this (MiB) in use by processes the agent did not "
        "start is busy and not handed out (RUNYARD_AGENT_GPU_BUSY_MB, default 1024)",
    )
    add("--slots", type=int, help="tasks at once (default: one per GPU, 1 without GPUs)")
    add("--work-dir", help="where task work dirs go (default: CACHE_DIR/work)")
    add("--cache-dir", help="git mirrors and venvs (default ~/.cache/runyard-agent)")
    add("--abort-grace-s", type=float, help="seconds between SIGTERM and SIGKILL (default 30)")
    add(
        "--drain-timeout-s",
        type=float,
        help="after SIGTERM, give running tasks back to their queues after this long "
        "(default: let them finish); set below the orchestrator's kill deadline",
    )
    add("--poll-wait-s", type=float, help="long-poll wait per claim (default 20, at most 30)")
    add(
        "--gang-host",
        help="address other agents reach this one at for multi-node tasks (default: host name)",
    )
    add("--executor", choices=get_args(ExecutorKind), help="how tasks run (default venv)")
    add("--docker-image", help="docker executor: image for tasks that record none")
    add(
        "--docker-forbid-task-image",
        action="store_const",
        const=True,
        help="docker executor: run every task in --docker-image, ignoring the task's image",
    )
    add("--docker-host", help="docker executor: engine URL (DOCKER_HOST; default local socket)")
    add("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default INFO")
    _add_package_options(parser)
    _add_slurm_options(parser)
    parser.add_argument("--version", action="version", version=f"runyard-agent {__version__}")
    return parser


def _add_package_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "packages and caches",
        "Index URLs may hold credentials: give those in the environment or the settings "
        "file, not on the command line. Named indexes (indexes = {name = URL}) are set in "
        "the settings file or RUNYARD_AGENT_INDEXES (JSON).",
    )
    add = group.add_argument
    add("--index-url", help="default package index instead of PyPI (RUNYARD_AGENT_INDEX_URL)")
    add("--extra-index-url", dest="extra_index_urls", action="append", help="repeatable")
    add("--find-links", action="append", help="folder or page of wheels (repeatable)")
    add("--torch-backend", help="PyTorch build: auto (default), cpu, cu121, ...")
    add("--torch-index-url", help="PyTorch builds' index; {backend} becomes cpu, cu121, ...")
    add("--venv-cache-max-gb", type=float, help="evict least recently used venvs above this")
    add("--min-free-gb", type=float, help="evict least recently used venvs to keep this free")


def _add_slurm_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "slurm executor",
        "Run on a submit node; CACHE_DIR (and WORK_DIR) must be on a filesystem the compute "
        "nodes share. These come from the operator, never from a task.",
    )
    add = group.add_argument
    add("--slurm-partition", help="partition(s) for every job (default: the cluster's)")
    add("--slurm-account", help="--account for every job")
    add("--slurm-qos", help="--qos for every job")
    add(
        "--slurm-sbatch-line",
        dest="slurm_sbatch_lines",
        action="append",
        help="another #SBATCH option for every job, e.g. --constraint=a100 (repeatable)",
    )
    add("--slurm-time-limit-s", type=int, help="every job's --time, in seconds")
    add("--slurm-poll-s", type=float, help="seconds between squeue polls (default 2)")
    add("--slurm-python", help="Python with runyard-agent on the compute nodes")


def load_settings(argv: Sequence[str] | None = None) -> AgentSettings:
    """Settings from the command line, the environment and the settings file, in that order."""
    args = build_parser().parse_args(argv)
    given: dict[str, Any] = {k: v for k, v in vars(args).items() if v is not None}
    return AgentSettings(**given)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``runyard-agent``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["cache"]:
        sys.exit(cache_main(args[1:]))
    settings = settings_or_exit(lambda: load_settings(args))
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        gpus: GpuProvider | None = default_gpu_provider(settings)
        machine = detect_machine(settings, gpus)
        if settings.executor == "slurm":
            from runyard_agent.executors.slurm.cluster import slurm_machine

            # Slurm places the jobs: the submit node's own GPUs are nobody's business here.
            machine, gpus = slurm_machine(settings), None
        if settings.executor == "docker":
            from runyard_agent.executors import prepare_engine

            prepare_engine(settings)
    except ConfigError as exc:
        log.error("%s", exc)
        sys.exit(EXIT_CONFIG)
    client = Client(settings.server, settings.token_value)
    agent = Agent(settings, client, machine, base_env=os.environ.copy(), gpu_provider=gpus)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        agent.on_signal()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    code = agent.run()
    client.close()
    sys.exit(code)
