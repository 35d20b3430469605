"""What a task needs (GPUs whole or shared, typed GPU requests, nodes) and where it ran."""

import string
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from runyard.models.strict import Strict

GPU_SHARES = (0.5, 0.25, 0.125)
"""The shares of one GPU a task may ask for (``resources.gpus``) besides whole GPUs."""


MAX_NODES = 64
"""The most agents one multi-node task (``resources.nodes``) may run on."""

GPU_MODEL_CHARS = frozenset(string.ascii_letters + string.digits + " ._/-*?")
"""What a ``gpu_model`` glob may hold: letters, digits, space, ``. _ / -`` and the
wildcards ``*`` and ``?`` (so the server can turn it into a Lua pattern safely)."""

MAX_GPU_MODEL_STARS = 4
"""Wildcards ``*`` a ``gpu_model`` glob may hold: each one multiplies the work of a
failed match, and the claim matches in Redis."""


class Resources(Strict):
    """What a task needs, or what an agent has free.

    ``gpus`` is 0, a share of one GPU (0.5, 0.25, 0.125: packed with other shares on one
    GPU, never isolated from them) or a whole number. ``gpu_memory_gb`` (per GPU, at
    least, as the agent reports it), ``gpu_model`` (a glob matched case-insensitively
    against the GPU's name or any tail of it after a space: ``A100*`` matches ``NVIDIA
    A100-SXM4-80GB``) and ``gpu_interconnect`` (``nvlink``: every GPU of the task is an
    NVLink peer of every other) narrow which GPUs qualify.
    """

    gpus: float = Field(default=0, ge=0, le=1024)
    cpus: float = Field(default=0, ge=0, le=100_000)
    memory_gb: float = Field(default=0, ge=0, le=1_000_000)
    # The typed fields are left out of the JSON while they ask for nothing, so an agent
    # or SDK older than them (its Resources refuses unknown fields) still reads the
    # untyped tasks it is given.
    gpu_memory_gb: float = Field(default=0, ge=0, le=100_000, exclude_if=lambda v: v == 0)
    gpu_model: str | None = Field(
        default=None, min_length=1, max_length=64, exclude_if=lambda v: v is None
    )
    gpu_interconnect: Literal["any", "nvlink"] = Field(
        default="any", exclude_if=lambda v: v == "any"
    )
    nodes: int = Field(
        default=1,
        ge=1,
        le=MAX_NODES,
        description="agents the task runs on at once, one rank each",
        exclude_if=lambda v: v == 1,
    )

    @field_validator("gpus")
    @classmethod
    def _whole_or_share(cls, value: float) -> float:
        if value == 0 or value in GPU_SHARES or (value >= 1 and value.is_integer()):
            return value
        raise ValueError(
            f"gpus {value:g} is not allowed: use 0, a share of one GPU (0.5, 0.25 or 0.125) "
            "or a whole number of GPUs (1, 2, 3, ...)"
        )

    @field_validator("gpu_model")
    @classmethod
    def _glob(cls, value: str | None) -> str | None:
        if value is not None and not set(value) <= GPU_MODEL_CHARS:
            raise ValueError(
                f"gpu_model {value!r} may hold only letters, digits, spaces, '. _ / -' and "
                "the wildcards * and ?"
            )
        if value is not None and value.count("*") > MAX_GPU_MODEL_STARS:
            raise ValueError(
                f"gpu_model {value!r} holds more than {MAX_GPU_MODEL_STARS} '*' wildcards"
            )
        return value

    @model_validator(mode="after")
    def _typed_needs_gpus(self) -> "Resources":
        if self.gpus == 0 and (self.gpu_model is not None or self.gpu_memory_gb > 0):
            raise ValueError("gpu_model and gpu_memory_gb need gpus > 0")
        if self.gpu_interconnect == "nvlink" and self.gpus < 1:
            raise ValueError("gpu_interconnect 'nvlink' needs a whole number of gpus (1 or more)")
        return self


class Placement(BaseModel):
    """Where one rank of a running task was placed: the agent and its GPUs.

    The server chooses it in the claim and the agent uses exactly these GPUs.
    ``gpu_indices`` is empty for a task without GPUs, or when an agent older than
    typed GPU requests claimed it (it picked its GPUs itself).
    """

    worker: str
    rank: int = 0
    gpu_indices: list[int] = Field(default_factory=list)
    gpu_fraction: float = 1.0
    """The share of each GPU the task holds: 1.0 for whole GPUs, else 0.5, 0.25, 0.125."""
