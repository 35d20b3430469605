"""CLI start bench: how long ``runyard --help`` and ``runyard task list`` take, next to
``python -c pass`` (the interpreter's own start), against a real server on loopback.

Target (issues 11 and 18): each command ≤ 0.3 s, median of RUNS runs. ``task list`` includes
one HTTP request to a server holding a page of tasks. Prints a table and writes JSON
to ``--out`` when given.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from _harness import running_stack, typical_body

RUNS = 15
TARGET_S = 0.3
RUNYARD = str(Path(sys.executable).with_name("runyard"))


def median_s(command: list[str], env: dict[str, str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, env=env, check=False)
        samples.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode()[-500:]}")
    return statistics.median(samples)


def measure(runs: int = RUNS) -> dict[str, float]:
    """Median seconds of each command (``runs`` runs) against a fresh server with 50 tasks."""
    with (
        tempfile.TemporaryDirectory(prefix="runyard-cli-bench-") as root,
        running_stack(Path(root)) as stack,
    ):
        for i in range(50):
            requests.post(f"{stack.api}/tasks", json=typical_body(None, i), timeout=10)
        env = {"RUNYARD_SERVER": f"http://127.0.0.1:{stack.port}", "PATH": "/usr/bin:/bin"}
        return {
            "python -c pass": median_s([sys.executable, "-c", "pass"], env, runs),
            "runyard --help": median_s([RUNYARD, "--help"], env, runs),
            "runyard task list": median_s([RUNYARD, "task", "list"], env, runs),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = measure()
    for what, seconds in results.items():
        verdict = "" if what.startswith("python") else ("ok" if seconds <= TARGET_S else "MISS")
        print(f"{what:<20} {seconds * 1000:7.0f} ms  {verdict}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
