"""What a task put on a queue may wait for forever: the warnings of create and enqueue.

Judged from the live workers as they registered (their queues and GPUs), never from
what is busy now: a queue no live worker serves, a GPU request no live worker serving
the queue could ever meet (matched as the claim matches, ``lua/gpus.lua``), a gang with
more nodes than such workers, and a queue whose ``max_gpus`` is below what the task
holds. The task is queued all the same; the warnings say why it may not start.
"""

from collections import Counter

import redis.asyncio as aioredis

from runyard.models import Gpu, Resources, nvlink_groups
from runyard_server.store.gpu_placement import model_matches
from runyard_server.store.queue_settings import read_settings
from runyard_server.store.workers import GpuShape, LiveWorker, ServedQueues

KINDS_SHOWN = 4
"""GPU kinds a warning lists of what the workers have."""

NVML_SHORTFALL = 0.9
"""NVML reports a GPU's memory a little under the size on the box (79.6 GB for an 80 GB
H100): a request missed by less than this share gets a hint saying so."""


def _usable(resources: Resources, shape: GpuShape) -> list[Gpu]:
    """The GPUs of a worker of ``shape`` the request may use: enough memory, the model."""
    return [
        Gpu(index=index, name=name, memory_gb=memory_gb, peers=list(peers))
        for name, memory_gb, index, peers in shape[1]
        if memory_gb >= resources.gpu_memory_gb
        and (resources.gpu_model is None or model_matches(name, resources.gpu_model))
    ]


def can_ever_run(resources: Resources, shape: GpuShape) -> bool:
    """Whether a worker of ``shape`` could run one rank of the request with all its GPUs
    free, as ``place_gpus`` in ``lua/gpus.lua`` places it."""
    need = resources.gpus
    count, gpus = shape
    if need == 0:
        return True
    if not gpus:
        # An agent that sent no GPU list takes only untyped whole-GPU tasks.
        untyped = (
            resources.gpu_model is None
            and not resources.gpu_memory_gb
            and resources.gpu_interconnect == "any"
        )
        return untyped and 1 <= need <= count
    usable = _usable(resources, shape)
    if need < 1 or resources.gpu_interconnect != "nvlink":
        return len(usable) >= max(need, 1)
    # The groups of all the worker's GPUs, as the agent forms them (SlotPool).
    everyone = [Gpu(index=i, peers=list(peers)) for _, _, i, peers in gpus]
    groups = nvlink_groups(everyone)
    return max(Counter(groups[gpu.index] for gpu in usable).values(), default=0) >= need


def _wanted(resources: Resources) -> str:
    need = resources.gpus
    said = f"a {need:g} share of a GPU" if need < 1 else f"{need:g} GPU(s)"
    if resources.gpu_model is not None:
        said += f" matching {resources.gpu_model!r}"
    if resources.gpu_memory_gb:
        said += f" with at least {resources.gpu_memory_gb:g} GB each"
    if resources.gpu_interconnect == "nvlink":
        said += ", all NVLink peers of each other"
    return said


def _had(resources: Resources, shapes: set[GpuShape]) -> str:
    """What the workers have: each kind of GPU and the most of it one worker has, and a
    hint when NVML's memory figure is what misses the request."""
    most: Counter[tuple[str, float]] = Counter()
    for _, gpus in shapes:
        for kind, count in Counter((name, gb) for name, gb, _, _ in gpus).items():
            most[kind] = max(most[kind], count)
    counts = [count for count, gpus in shapes if not gpus]
    kinds = [f"{n} x {name or 'GPU'} ({gb:g} GB)" for (name, gb), n in sorted(most.items())]
    if max(counts, default=0):
        kinds.append(f"{max(counts):g} GPU(s) of no reported type")
    if not kinds:
        return "they have no GPUs"
    shown = ", ".join(kinds[:KINDS_SHOWN])
    if len(kinds) > KINDS_SHOWN:
        shown += f" and {len(kinds) - KINDS_SHOWN} more kinds"
    said = f"the most one has: {shown}"
    wanted_gb = resources.gpu_memory_gb
    close = [
        (name, gb)
        for name, gb in sorted(most)
        if NVML_SHORTFALL * wanted_gb <= gb < wanted_gb
        and (resources.gpu_model is None or model_matches(name, resources.gpu_model))
    ]
    if close:
        name, gb = close[0]
        said += (
            f"; NVML reports {gb:g} GB for {name}, a little under its size on the box: "
            f"ask for gpu_memory_gb {int(gb):d} to run there"
        )
    return said


def unserved_warning(queue: str, served: set[str]) -> str:
    """No live worker claims from ``queue``; ``served``: the queues live workers serve."""
    where = f"live workers serve {', '.join(sorted(served))}" if served else "no worker is live"
    return f"no live worker serves queue {queue} ({where}); the task waits until one does"


def _worker_warning(queue: str, resources: Resources, workers: list[LiveWorker]) -> str | None:
    """The warning the live workers earn a task of ``resources`` on ``queue``, if any."""
    serving = [worker for worker in workers if queue in worker.queues]
    if not serving:
        return unserved_warning(queue, {q for worker in workers for q in worker.queues})
    if not resources.gpus:
        able = len(serving)
        return None if able >= resources.nodes else _gang_warning(queue, able, resources.nodes)
    able = 0
    judged: dict[GpuShape, bool] = {}
    for worker in serving:
        shape = worker.shape
        if shape not in judged:
            judged[shape] = can_ever_run(resources, shape)
        able += judged[shape]
        if able >= resources.nodes:
            return None
    if not able:
        return (
            f"no live worker serving queue {queue} has {_wanted(resources)} "
            f"({_had(resources, set(judged))}); the task waits until one does"
        )
    return _gang_warning(queue, able, resources.nodes)


def _gang_warning(queue: str, able: int, nodes: int) -> str:
    return (
        f"only {able} live worker(s) serve queue {queue} with what a rank needs and the "
        f"task runs on {nodes} at once: it waits until that many do, and meanwhile "
        "holds the ones that come by for a gang timeout at a time"
    )


async def queued_warnings(
    r: "aioredis.Redis", served: ServedQueues, queue: str, resources: Resources, now: float
) -> list[str]:
    """Why a task of ``resources`` waiting in ``queue`` may never start (empty: none)."""
    warning = await served.check(r, now, lambda ws: _worker_warning(queue, resources, ws))
    warnings = [] if warning is None else [warning]
    held = resources.gpus * resources.nodes
    if held:
        limit = (await read_settings(r, [queue]))[queue].max_gpus
        if limit is not None and limit < held:
            warnings.append(
                f"queue {queue} lets its running tasks hold {limit:g} GPU(s) at most "
                f"(max_gpus) and the task holds {held:g}: it never starts until the "
                "limit is raised (runyard queue set)"
            )
    return warnings
