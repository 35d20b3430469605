"""Check the agent's GPU layer on a real NVIDIA machine; prints what it saw, for the issue.

Run from a checkout with the agent installed (``make setup``, then
``.venv/bin/pip install nvidia-ml-py torch``)::

    .venv/bin/python scripts/gpu_check.py [--gpus 0,3] [--gpu-busy-mb 1024]

It checks, printing PASS, FAIL or SKIP (and why) for each:

1. detection: each GPU's model, memory and NVLink peers through NVML, the same peers
   through ``nvidia-smi topo -m`` when the tool is there, the driver's CUDA version,
   and which GPUs are busy with memory of processes this script did not start;
2. a pinned CUDA task per GPU: a child started with ``CUDA_VISIBLE_DEVICES`` and
   ``CUDA_DEVICE_ORDER`` as the agent sets them sees one device, the one NVML numbers
   that way (same UUID), runs a matmul, and NVML lists the child's pid on that GPU,
   judged the agent's own (not foreign);
3. a fractional pair: two children on one GPU at once, each with
   ``RUNYARD_GPU_MEMORY_FRACTION=0.5`` applied through
   ``torch.cuda.set_per_process_memory_fraction``: both run, and an allocation over
   the fraction is refused;
4. foreign use: a CUDA process detached from this script (``setsid --fork``, so
   neither its descendant nor in a task's session) holding 2 GiB makes its GPU busy,
   and the GPU is free again once it ends.

Parts 2-4 need PyTorch with CUDA; without it they are skipped, saying so. The exit
code is 1 when anything failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from runyard.models import Gpu
from runyard_agent.gpu_watch import GpuWatch, is_descendant
from runyard_agent.nvidia_smi import NvidiaSmiProvider
from runyard_agent.resources import NvmlProvider

# Prints one JSON line about the device it sees, holds argv[1] GiB, then waits for
# stdin to close (or, detached, for the file argv[2] to appear).
CHILD = """\
import json, os, pathlib, sys, time
import torch
out = {"pid": os.getpid(), "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
       "count": torch.cuda.device_count()}
props = torch.cuda.get_device_properties(0)
out["name"], out["total"] = props.name, props.total_memory
out["uuid"] = str(getattr(props, "uuid", ""))
fraction = float(os.environ.get("RUNYARD_GPU_MEMORY_FRACTION") or 0)
if fraction:
    torch.cuda.set_per_process_memory_fraction(fraction, 0)
x = torch.randn(2048, 2048, device="cuda")
out["matmul"] = float((x @ x).abs().sum().item()) > 0
held = torch.empty(int(float(sys.argv[1]) * 2**30), dtype=torch.uint8, device="cuda")
if fraction:
    try:
        more = torch.empty(int(props.total_memory * fraction), dtype=torch.uint8, device="cuda")
        out["over_fraction"] = "allowed"
    except torch.cuda.OutOfMemoryError:
        out["over_fraction"] = "refused"
torch.cuda.synchronize()
print(json.dumps(out), flush=True)
if len(sys.argv) > 2:
    deadline = time.monotonic() + 120
    while not pathlib.Path(sys.argv[2]).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
else:
    sys.stdin.read()
"""

_MIB = 1024**2


class Report:
    def __init__(self) -> None:
        self.counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}

    def __call__(self, verdict: str, what: str, detail: str = "") -> None:
        self.counts[verdict] += 1
        print(f"[{verdict}] {what}" + (f": {detail}" if detail else ""), flush=True)

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        self("PASS" if ok else "FAIL", what, detail)
        return ok


def detect(report: Report, busy_mb: int) -> tuple[NvmlProvider | None, list[Gpu]]:
    print("== detection")
    nvml = NvmlProvider()
    try:
        gpus = nvml.detect()
    except Exception as exc:
        report("FAIL", "NVML detection", f"{exc} (is nvidia-ml-py installed? the driver?)")
        return None, []
    report.check(bool(gpus), "NVML finds GPUs", f"{len(gpus)} GPU(s), CUDA {nvml.cuda_version()}")
    for gpu in gpus:
        print(
            f"  GPU {gpu.index}: {gpu.name}, {gpu.memory_gb} GB, {gpu.uuid}, "
            f"NVLink peers {gpu.peers or 'none'}"
        )
    if shutil.which("nvidia-smi"):
        smi = {gpu.index: gpu.peers for gpu in NvidiaSmiProvider().detect()}
        ours = {gpu.index: gpu.peers for gpu in gpus}
        report.check(ours == smi, "NVLink peers agree with nvidia-smi topo -m", f"smi {smi}")
    else:
        report("SKIP", "NVLink peers against nvidia-smi", "nvidia-smi is not on PATH")
    watch = GpuWatch(nvml, [gpu.index for gpu in gpus], busy_mb, list, refresh_s=0)
    for index, use in watch.use().items():
        print(
            f"  GPU {index}: {'BUSY' if use.busy else 'free'}, {use.foreign_mb} MiB foreign"
            f"{' (+ unreported)' if use.unknown else ''}"
        )
    return nvml, gpus


def start_child(index: int, hold_gb: float, fraction: float | None = None) -> subprocess.Popen[str]:
    """A child pinned to GPU ``index`` the way the agent pins a task."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(index), "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    if fraction is not None:
        env["RUNYARD_GPU_MEMORY_FRACTION"] = str(fraction)
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(hold_gb)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def first_line(child: subprocess.Popen[str]) -> dict[str, Any] | None:
    assert child.stdout is not None
    line = child.stdout.readline()
    return json.loads(line) if line else None


def stop(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.close()
    child.wait(60)


def pids_on(nvml: NvmlProvider, index: int) -> set[int]:
    return {p.pid for p in nvml.processes() if p.gpu == index}


def pinned(report: Report, nvml: NvmlProvider, gpu: Gpu, busy_mb: int) -> None:
    child = start_child(gpu.index, 0.5)
    try:
        seen = first_line(child)
        if seen is None:
            report("FAIL", f"GPU {gpu.index}: pinned CUDA task", "the child died; see above")
            return
        print(f"  child sees: {seen}")
        uuid = seen["uuid"].removeprefix("GPU-").lower()
        same = uuid == gpu.uuid.removeprefix("GPU-").lower() if uuid else seen["name"] == gpu.name
        report.check(
            seen["count"] == 1 and same and seen["matmul"],
            f"GPU {gpu.index}: CUDA_VISIBLE_DEVICES={seen['visible']} gives one device, "
            "the one NVML numbers so, and a matmul runs",
            f"{seen['count']} device(s), uuid {uuid or '(torch too old)'}",
        )
        listed = pids_on(nvml, gpu.index)
        report.check(
            seen["pid"] in listed,
            f"GPU {gpu.index}: NVML lists the child there",
            f"pids {sorted(listed)} (none matching: the script runs in another pid "
            "namespace than the driver reports; run with the host's pids)",
        )
        report.check(
            is_descendant(seen["pid"], {os.getpid()}, {child.pid}),
            f"GPU {gpu.index}: the child counts as the agent's own, not foreign",
        )
        watch = GpuWatch(nvml, [gpu.index], busy_mb, lambda: [child.pid], refresh_s=0)
        print(f"  with the child running: {watch.use()[gpu.index]}")
    finally:
        stop(child)


def fractional_pair(report: Report, nvml: NvmlProvider, gpu: Gpu) -> None:
    pair = [start_child(gpu.index, 1.0, fraction=0.5) for _ in range(2)]
    try:
        seen = [first_line(child) for child in pair]
        if None in seen:
            report("FAIL", f"GPU {gpu.index}: fractional pair", "a child died; see above")
            return
        listed = pids_on(nvml, gpu.index)
        both = all(s is not None and s["pid"] in listed for s in seen)
        report.check(
            both,
            f"GPU {gpu.index}: two tasks with half the GPU each run at once",
            f"pids listed {sorted(listed)}",
        )
        refused = [s["over_fraction"] for s in seen if s is not None]
        report.check(
            refused == ["refused", "refused"],
            "an allocation over the memory fraction is refused in each",
            str(refused),
        )
    finally:
        for child in pair:
            stop(child)


def foreign_use(report: Report, nvml: NvmlProvider, gpu: Gpu, busy_mb: int) -> None:
    if shutil.which("setsid") is None:
        report("SKIP", "foreign use makes a GPU busy", "setsid is not on PATH")
        return
    watch = GpuWatch(nvml, [gpu.index], busy_mb, list, refresh_s=0)
    before = watch.use()[gpu.index]
    with tempfile.TemporaryDirectory() as scratch:
        done, out = Path(scratch) / "done", Path(scratch) / "out"
        env = {
            **os.environ,
            "CUDA_VISIBLE_DEVICES": str(gpu.index),
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        }
        hold = max(2.0, (busy_mb + 1024) / 1024)
        with out.open("w") as sink:
            subprocess.run(
                ["setsid", "--fork", sys.executable, "-c", CHILD, str(hold), str(done)],
                env=env,
                stdout=sink,
                check=True,
            )
        deadline = time.monotonic() + 120
        while not out.read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.2)
        during = watch.use()[gpu.index]
        done.touch()
        text = out.read_text().strip()
        pid = json.loads(text)["pid"] if text else 0
        while pid and psutil.pid_exists(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        after = watch.use()[gpu.index]
    report.check(
        during.busy,
        f"GPU {gpu.index}: a detached process holding {hold:g} GiB makes it busy",
        f"before {before}, during {during}",
    )
    report.check(
        after.foreign_mb <= before.foreign_mb + 64 and after.busy == before.busy,
        f"GPU {gpu.index}: as before once it ends",
        f"after {after}",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpus", help="check only these GPU indices, e.g. 0,3")
    parser.add_argument("--gpu-busy-mb", type=int, default=1024)
    args = parser.parse_args()
    report = Report()
    nvml, gpus = detect(report, args.gpu_busy_mb)
    if args.gpus:
        wanted = {int(i) for i in args.gpus.split(",")}
        gpus = [gpu for gpu in gpus if gpu.index in wanted]
    if nvml is not None and gpus:
        try:
            import torch
        except ImportError:
            torch = None
        if torch is None or not torch.cuda.is_available():
            why = "PyTorch is not installed" if torch is None else "torch.cuda is not available"
            for part in ("pinned CUDA tasks", "fractional pair", "foreign use"):
                report("SKIP", part, f"{why} (pip install torch with CUDA)")
        else:
            print("== pinned CUDA tasks")
            for gpu in gpus:
                pinned(report, nvml, gpu, args.gpu_busy_mb)
            print("== fractional pair")
            fractional_pair(report, nvml, gpus[-1])
            print("== foreign use")
            foreign_use(report, nvml, gpus[-1], args.gpu_busy_mb)
    print(", ".join(f"{n} {verdict.lower()}" for verdict, n in report.counts.items()))
    return 1 if report.counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
