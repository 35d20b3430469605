"""The resource flags of ``task create`` and ``task clone`` (``--gpus 0.5``, ``--gpu-model``)."""

from __future__ import annotations

import argparse
from typing import Any

from runyard.cli.output import number
from runyard.models import Placement, Resources

_FLAGS: tuple[tuple[str, str, Any, str], ...] = (
    ("--gpus", "gpus", float, "GPUs: a whole number, or a share of one GPU (0.5, 0.25, 0.125)"),
    ("--cpus", "cpus", float, "CPUs"),
    ("--memory-gb", "memory_gb", float, "memory in GB"),
    ("--gpu-memory-gb", "gpu_memory_gb", float, "memory per GPU, at least (as nvidia-smi says)"),
    ("--gpu-model", "gpu_model", str, "GPU model glob, case-insensitive, e.g. 'A100*', '*H100*'"),
    ("--nodes", "nodes", int, "agents to run on at once, one rank each (multi-node)"),
)


def add_resource_flags(parser: argparse.ArgumentParser, *, replace: bool = False) -> None:
    """The flags; with ``replace`` (clone) each given one replaces the source's value."""
    group = parser.add_argument_group(
        "resources (each replaces the source task's value)" if replace else "resources"
    )
    for flag, dest, kind, text in _FLAGS:
        group.add_argument(flag, dest=dest, type=kind, default=None, help=text)
    group.add_argument(
        "--gpu-interconnect",
        dest="gpu_interconnect",
        choices=["any", "nvlink"],
        default=None,
        help="nvlink: every GPU of the task is an NVLink peer of every other",
    )


def _given(args: argparse.Namespace) -> dict[str, Any]:
    dests = [dest for _, dest, _, _ in _FLAGS] + ["gpu_interconnect"]
    return {dest: getattr(args, dest) for dest in dests if getattr(args, dest) is not None}


def resource_flags_given(args: argparse.Namespace) -> bool:
    """True when any resource flag was given."""
    return bool(_given(args))


def resources_from(args: argparse.Namespace, base: Resources | None = None) -> Resources:
    """``base`` (default: nothing asked for) with the flags given replacing its values.
    Raises pydantic's ValidationError for a bad value or combination."""
    fields = (base or Resources()).model_dump()
    return Resources.model_validate({**fields, **_given(args)})


def describe_resources(res: Resources) -> str:
    """``0.5 GPU (A100*, ≥40 GB, nvlink), 4 CPU, 16 GB``: what a task asks for."""
    typed = [
        res.gpu_model or "",
        f"≥{number(res.gpu_memory_gb)} GB" if res.gpu_memory_gb else "",
        "nvlink" if res.gpu_interconnect == "nvlink" else "",
    ]
    gpu = f"{number(res.gpus)} GPU"
    if any(typed):
        gpu += f" ({', '.join(t for t in typed if t)})"
    return f"{gpu}, {number(res.cpus)} CPU, {number(res.memory_gb)} GB"


def describe_placement(placement: Placement) -> str:
    """``rank 0 on w-1: GPUs 2,3`` or ``rank 0 on w-1: GPU 1 (share 0.5)``."""
    where = f"rank {placement.rank} on {placement.worker}"
    indices = ",".join(str(i) for i in placement.gpu_indices)
    if not indices:
        return where
    if placement.gpu_fraction < 1:
        return f"{where}: GPU {indices} (share {number(placement.gpu_fraction)})"
    return f"{where}: GPU{'s' if len(placement.gpu_indices) > 1 else ''} {indices}"
