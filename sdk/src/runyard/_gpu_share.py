"""A task holding a share of a GPU: cap PyTorch's memory on it to that share.

The agent sets ``RUNYARD_GPU_MEMORY_FRACTION`` (0.5, 0.25, 0.125) for a task packed
with others on one GPU. This is packing, not isolation: the cap only makes PyTorch's
caching allocator refuse to grow past the share; other frameworks, and memory CUDA
itself takes, are not limited (MIG or MPS are the hardware routes to isolation).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping

FRACTION_ENV = "RUNYARD_GPU_MEMORY_FRACTION"


def memory_fraction(env: Mapping[str, str]) -> float | None:
    """The share from the environment; None when unset or not a share in (0, 1)."""
    try:
        fraction = float(env.get(FRACTION_ENV, ""))
    except ValueError:
        return None
    return fraction if 0 < fraction < 1 else None


def apply_memory_fraction(fraction: float | None) -> bool:
    """Cap PyTorch's memory on every visible CUDA device to ``fraction``; True when done.

    Silently nothing without a fraction, without PyTorch or without CUDA. PyTorch is
    imported only when a fraction is set (the task is about to use it anyway).
    """
    if fraction is None or importlib.util.find_spec("torch") is None:
        return False
    torch = importlib.import_module("torch")
    if not torch.cuda.is_available():
        return False
    for device in range(torch.cuda.device_count()):
        torch.cuda.set_per_process_memory_fraction(fraction, device)
    return True
