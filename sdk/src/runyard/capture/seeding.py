"""One seed for every random number generator a script is likely to use."""

from __future__ import annotations

import importlib
import importlib.util
import random
from typing import Any

_SEED_RANGE = 2**31


def new_seed() -> int:
    """A fresh seed from the operating system's randomness."""
    return random.SystemRandom().randrange(_SEED_RANGE)


def seed_everything(seed: int) -> list[str]:
    """Seed ``random`` and, when installed, NumPy and PyTorch; returns what was seeded."""
    random.seed(seed)
    seeded = ["random"]
    numpy = _module("numpy")
    if numpy is not None:
        numpy.random.seed(seed % 2**32)
        seeded.append("numpy")
    torch = _module("torch")
    if torch is not None:
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
        seeded.append("torch")
    return seeded


def _module(name: str) -> Any:
    """The module when it is installed and imports cleanly, else None."""
    try:
        if importlib.util.find_spec(name) is None:
            return None
        return importlib.import_module(name)
    except Exception:  # a broken install must not stop the user's script
        return None
