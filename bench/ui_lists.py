"""UI lists bench: what the runs table asks of the server at a few thousand tasks.

    .venv/bin/python bench/ui_lists.py [--quick] [--out PATH]

Starts its own embedded Redis and ``runyard-server``, creates tasks over HTTP the way
clients do (each with a code diff, packages and params; half with metrics), then times
the requests the UI makes: a page of whole tasks against a page of summaries (and the
bytes of each), summaries with metric columns, a sort by a final metric, a sort by a
parameter (a bounded scan, unfiltered and within one project), the project view and
the tag suggestions. p50/p99 over HTTP on loopback. Writes JSON (default
bench/results/ui_lists.json).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import bench_main, check, log, running_stack, summary_ms
from _report import target_lines, verdicts

HERE = Path(__file__).resolve().parent
PROJECTS = ["vision", "nlp", "rl", "speech"]
DIFF_BYTES = 100_000

TARGETS = [
    ("summary page of 50 p99 ms", "queries.summary.ms.p99", 100.0, "le"),
    ("summary page of 50 KB", "queries.summary.kb", 100.0, "le"),
    ("param sort, all tasks p99 ms", "queries.param_sort_all.ms.p99", 1000.0, "le"),
    ("param sort, one project p99 ms", "queries.param_sort_project.ms.p99", 500.0, "le"),
    ("projects view p99 ms", "queries.projects.ms.p99", 200.0, "le"),
]


@dataclass(frozen=True)
class Plan:
    tasks: int = 4_000
    samples: int = 20


QUICK = Plan(tasks=1_000, samples=8)


def fill(api: str, plan: Plan) -> float:
    """Create the tasks; returns the seconds it took."""
    rng = random.Random(7)
    diff = "diff --git a/train.py b/train.py\n" + "+x = 1\n" * (DIFF_BYTES // 7)
    session = requests.Session()
    started = time.perf_counter()
    for i in range(plan.tasks):
        body = {
            "project": rng.choice(PROJECTS),
            "name": f"run-{i}",
            "tags": [rng.choice(["baseline", "ablation", "best"])],
            "script": {"entry_point": "train.py", "commit": "c" * 40, "diff": diff},
            "environment": {"requirements": [f"pkg{j}==1.{j}" for j in range(100)]},
            "params": {"General": {"lr": rng.choice([1e-4, 3e-4, 1e-3, 3e-3]), "epochs": 10}},
        }
        task = check(session.post(f"{api}/tasks", json=body, timeout=30), "create")
        if i % 2:
            points = [{"series": "val/acc", "value": rng.random(), "step": 0, "ts": time.time()}]
            check(session.post(f"{api}/tasks/{task['id']}/metrics", json={"points": points}), "log")
        if i and i % 1000 == 0:
            log(f"{i} tasks")
    return time.perf_counter() - started


def timed(url: str, params: dict[str, Any], plan: Plan) -> dict[str, Any]:
    session = requests.Session()
    samples, size = [], 0
    for _ in range(plan.samples + 2):
        began = time.perf_counter()
        response = session.get(url, params=params, timeout=60)
        samples.append(time.perf_counter() - began)
        check(response, url)
        size = len(response.content)
    return {"ms": summary_ms(samples[2:]), "kb": size / 1024}


def run(plan: Plan) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="runyard-bench-ui-") as tmp,
        running_stack(Path(tmp)) as stack,
    ):
        api = stack.api
        log(f"creating {plan.tasks} tasks with {DIFF_BYTES // 1000} KB diffs")
        fill_s = fill(api, plan)
        page = {"limit": 50}
        queries = {
            "full": (f"{api}/tasks", page),
            "summary": (f"{api}/tasks", {**page, "view": "summary"}),
            "summary_metric_columns": (
                f"{api}/tasks",
                {**page, "view": "summary", "metrics": "val/acc,train/loss"},
            ),
            "metric_sort": (f"{api}/tasks", {**page, "view": "summary", "sort": "metric:val/acc"}),
            "param_sort_all": (
                f"{api}/tasks",
                {**page, "view": "summary", "sort": "param:General/lr"},
            ),
            "param_sort_project": (
                f"{api}/tasks",
                {**page, "view": "summary", "sort": "param:General/lr", "project": "rl"},
            ),
            "projects": (f"{api}/projects", {"latest": 5}),
            "tags": (f"{api}/tags", {}),
        }
        results = {}
        for name, (url, params) in queries.items():
            results[name] = timed(url, params, plan)
            log(f"{name}: p50 {results[name]['ms']['p50']:.1f} ms, {results[name]['kb']:.1f} KB")
        return {"plan": plan.__dict__, "fill_s": fill_s, "queries": results}


def render(results: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    lines = [f"{results['plan']['tasks']} tasks ({DIFF_BYTES // 1000} KB diffs)", ""]
    lines.append(f"  {'query':<26} {'p50 ms':>8} {'p99 ms':>8} {'KB':>10}")
    for name, row in results["queries"].items():
        ms = row["ms"]
        lines.append(f"  {name:<26} {ms['p50']:8.1f} {ms['p99']:8.1f} {row['kb']:10.1f}")
    lines += ["", "targets:", *target_lines(checks, width=34)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    bench_main(
        argv,
        description=__doc__.split("\n\n")[0],
        default_out=HERE / "results" / "ui_lists.json",
        quick_help="1,000 tasks (about a minute)",
        run=lambda quick: run(QUICK if quick else Plan()),
        check=lambda results: verdicts(results, TARGETS),
        render=render,
    )


if __name__ == "__main__":
    main()
