"""Choosing the PyTorch build (CPU or a CUDA version) for this machine, as uv does.

PyTorch publishes one build per accelerator, each on its own index
(``https://download.pytorch.org/whl/cu121`` holds ``torch 2.3.0+cu121``), and marks it
with a local version label. uv's ``--torch-backend=auto`` picks the newest CUDA build
the driver supports; it is wired to download.pytorch.org only, so the agent makes the
same choice itself and installs from the operator's ``torch_index_url`` (a mirror or
a private index work the same). A requirement recorded with a label this machine
cannot run (``+cu121`` on a CPU-only agent, ``+cu128`` on a CUDA 12.1 driver, ``+cpu``
on a GPU agent) is rewritten to this machine's build instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import Specifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

TORCH_PACKAGES = frozenset(
    {"torch", "torchvision", "torchaudio", "torchtext", "torchdata", "torchrec", "pytorch-triton"}
)
"""Distributions PyTorch publishes per accelerator (the ones uv's torch backend covers)."""

CUDA_BUILDS = (
    (10, 2),
    (11, 1),
    (11, 3),
    (11, 6),
    (11, 7),
    (11, 8),
    (12, 1),
    (12, 4),
    (12, 6),
    (12, 8),
    (12, 9),
    (13, 0),
)
"""CUDA versions PyTorch has published builds for, oldest first."""


@dataclass(frozen=True)
class TorchBuild:
    """The build chosen for this machine and why, in words for the task log."""

    backend: str
    why: str


def choose_build(setting: str, gpus: int, cuda: tuple[int, int] | None) -> TorchBuild:
    """The build for an agent with ``gpus`` GPUs whose driver supports CUDA ``cuda``.

    ``setting`` is the agent's ``torch_backend``: anything but ``auto`` is used as is.
    """
    if setting != "auto":
        return TorchBuild(setting, "set by the agent's torch_backend")
    if gpus == 0:
        return TorchBuild("cpu", "this agent has no GPU")
    if cuda is None:
        return TorchBuild("cpu", "the GPU driver did not report a CUDA version")
    usable = [build for build in CUDA_BUILDS if build <= cuda]
    if not usable:
        return TorchBuild("cpu", f"the driver's CUDA {cuda[0]}.{cuda[1]} is older than any build")
    major, minor = usable[-1]
    return TorchBuild(f"cu{major}{minor}", f"the GPU driver supports CUDA {cuda[0]}.{cuda[1]}")


def _cuda_number(label: str) -> int | None:
    return int(label[2:]) if label.startswith("cu") and label[2:].isdigit() else None


def fits(label: str, backend: str) -> bool:
    """Whether a build labelled ``label`` runs where ``backend`` is the chosen build."""
    if label == backend:
        return True
    recorded, available = _cuda_number(label), _cuda_number(backend)
    return recorded is not None and available is not None and recorded <= available


@dataclass(frozen=True)
class TorchPlan:
    """Requirements with PyTorch builds mapped, the builds to fetch, and notes for the log:
    the builds chosen and why, then each requirement changed."""

    requirements: list[str]
    backends: list[str]
    notes: list[str]


def plan_torch(requirements: list[str], build: TorchBuild) -> TorchPlan:
    """Map each PyTorch requirement's build label to one this machine runs.

    ``backends`` lists the builds whose indexes the installer needs (empty when no
    requirement is a PyTorch package).
    """
    mapped: list[str] = []
    backends: dict[str, None] = {}
    notes: list[str] = []
    for line in requirements:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            mapped.append(line)
            continue
        if canonicalize_name(requirement.name) not in TORCH_PACKAGES:
            mapped.append(line)
            continue
        specifiers, label = _relabel(requirement.specifier, build.backend)
        backends[label or build.backend] = None
        if specifiers != requirement.specifier:
            requirement.specifier = specifiers
            notes.append(f"{line} → {requirement} (this machine runs {build.backend} builds)")
        mapped.append(str(requirement))
    if backends:
        notes.insert(0, f"{', '.join(backends)} builds ({build.why})")
    return TorchPlan(mapped, list(backends), notes)


def _relabel(specifiers: SpecifierSet, backend: str) -> tuple[SpecifierSet, str | None]:
    """Specifiers with a local label this machine cannot run replaced by ``backend``.

    Returns the label kept (a recorded CUDA build the driver supports), or None.
    """
    kept: str | None = None
    result = []
    for specifier in specifiers:
        version = _pinned(specifier)
        if version is None or version.local is None:
            result.append(str(specifier))
            continue
        if fits(version.local, backend):
            kept = version.local
            result.append(str(specifier))
        else:
            result.append(f"{specifier.operator}{version.public}+{backend}")
    return SpecifierSet(",".join(result)), kept


def _pinned(specifier: Specifier) -> Version | None:
    if specifier.operator not in ("==", "==="):
        return None
    try:
        return Version(specifier.version)
    except InvalidVersion:
        return None
