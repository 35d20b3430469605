"""Listing bench: GET /tasks at 100,000 tasks — filters, name search, sorts, all pages.

    .venv/bin/python bench/listing.py [--quick] [--out PATH]

Starts its own embedded Redis and a ``runyard-server`` on it, fills the store straight
through the server's own Lua scripts (create, local start, end, metrics: the same
indexes a real history has), then times each query over HTTP on loopback: p50/p99 of
the response and the Redis time per request (INFO commandstats), which is how long the
page's script kept Redis from serving anything else. It also pages through a whole
sort at 1,000 rows a page, and reports the bytes per task the sort and search indexes
take (MEMORY USAGE). Writes JSON (default bench/results/listing.json).
"""

from __future__ import annotations

import random
import secrets
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import bench_main, check, log, running_stack, summary_ms
from _report import target_lines, verdicts

from runyard.models import TaskCreate
from runyard_server.store import keys, script_keys, scripts
from runyard_server.store.tasks import queue_create

HERE = Path(__file__).resolve().parent
T0 = 1_700_000_000.0
ARCHS = ["resnet50", "resnet18", "vit-b16", "vit-l14", "bert-base", "gpt2", "unet", "mlp"]
DATASETS = ["imagenet", "cifar10", "cifar100", "coco", "wiki", "mnist"]
PROJECTS = [("vision", 0.5), ("nlp", 0.3), ("rl", 0.1), ("speech", 0.0998), ("audio", 0.0002)]
SERIES = ["val/acc", "val/loss", "train/loss", "lr"]


@dataclass(frozen=True)
class Plan:
    """How many tasks, samples per query, and the page size of the whole-sort walk."""

    tasks: int = 100_000
    samples: int = 30
    warmup: int = 3
    deep_page: int = 100
    walk_limit: int = 1000


QUICK = Plan(tasks=10_000, samples=10, deep_page=20)


class Loader:
    """Runs the server's scripts straight on Redis, pipelined, to build a history fast."""

    def __init__(self, r: redis.Redis) -> None:
        self.pipe = r.pipeline(transaction=False)
        self.shas = {name: str(r.script_load(scripts.source(name))) for name in SCRIPTS}

    def call(self, name: str, declared: script_keys.Declared, *args: Any) -> None:
        scripts.queue(self.pipe, self.shas[name], declared, *args)

    def flush(self) -> None:
        self.pipe.execute()


SCRIPTS = ("create", "local_start", "end", "metrics")
"""The server's scripts the loader runs (pipelined by SHA, with the keys they take)."""


def _project(rng: random.Random) -> str:
    return rng.choices([p for p, _ in PROJECTS], [w for _, w in PROJECTS])[0]


def fill(url: str, count: int) -> float:
    """``count`` tasks: 90 % finished local runs with four metric series (values rounded
    to 3 decimals, so ties), 3 % running, 7 % drafts; three are named "needle"."""
    rng = random.Random(7)
    r = redis.Redis.from_url(url)
    loader = Loader(r)
    began = time.perf_counter()
    for i in range(count):
        arch, data = rng.choice(ARCHS), rng.choice(DATASETS)
        name = f"{arch}-{data}-lr{rng.choice([1, 3, 10, 30])}e-4-{i}"
        if i in (count // 7, count // 2, count - 5):
            name = f"needle-{arch}-{i}"
        tags = ["sweep"] if rng.random() < 0.3 else []
        if rng.random() < 0.02:
            tags.append("baseline")
        body = TaskCreate(project=_project(rng), name=name, tags=tags)
        task_id = secrets.token_hex(16)
        now = T0 + i * 10
        queue_create(loader.pipe, loader.shas["create"], task_id, body, now, i + 1)
        kind = rng.random()
        if kind < 0.93:
            token = secrets.token_hex(16)
            local = script_keys.transition([task_id], [], [])
            loader.call("local_start", local, task_id, token, now + 1, now + 1e9)
            points: list[Any] = []
            for series in SERIES:
                value = round(rng.random(), 3)
                points += [series, f'["{series}",0,{value},{now}]', repr(value)]
            logged = {**script_keys.task_output(task_id), **script_keys.metric_indexes(SERIES)}
            logged["metric_series"] = keys.METRIC_SERIES
            loader.call("metrics", logged, task_id, 100_000, *points)
            if kind < 0.90:
                status = "completed" if rng.random() < 0.8 else "failed"
                ended = now + 5 + rng.random() * 1000
                loader.call("end", local, task_id, token, ended, status, "0", "")
        if i % 2000 == 1999:
            loader.flush()
    loader.flush()
    r.close()
    return time.perf_counter() - began


def index_bytes(url: str, tasks: int) -> dict[str, float]:
    """Bytes per task each listing index takes (MEMORY USAGE, every element sampled)."""
    r = redis.Redis.from_url(url, decode_responses=True)
    try:
        groups = {
            "started": [keys.STARTED_INDEX],
            "finished": [keys.FINISHED_INDEX],
            "name_sort": [keys.NAME_INDEX],
            "name_search": list(r.scan_iter(match=f"{keys.NAMES_PREFIX}*", count=1000)),
            "metric_per_series": [keys.metric_index(SERIES[0])],
            "all_metric_series": [keys.metric_index(series) for series in SERIES],
        }
        sizes = {
            group: sum(int(r.memory_usage(key, samples=0) or 0) for key in names) / tasks
            for group, names in groups.items()
        }
        sizes["used_memory_per_task"] = int(r.info("memory")["used_memory"]) / tasks
        return {k: round(v, 1) for k, v in sizes.items()}
    finally:
        r.close()


def evalsha_usec(url: str) -> tuple[int, int]:
    """(calls, microseconds) Redis has spent in EVALSHA so far."""
    r = redis.Redis.from_url(url)
    try:
        stats = r.info("commandstats").get("cmdstat_evalsha", {})
        return int(stats.get("calls", 0)), int(stats.get("usec", 0))
    finally:
        r.close()


@dataclass
class Bench:
    api: str
    url: str
    plan: Plan
    session: requests.Session

    def get(self, params: dict[str, Any]) -> dict[str, Any]:
        page: dict[str, Any] = check(
            self.session.get(f"{self.api}/tasks", params=params, timeout=60), f"GET {params}"
        )
        return page

    def time(self, params: dict[str, Any]) -> dict[str, Any]:
        """p50/p99 of one query, the Redis time in its script, and its first page's size."""
        for _ in range(self.plan.warmup):
            page = self.get(params)
        calls0, usec0 = evalsha_usec(self.url)
        samples = []
        for _ in range(self.plan.samples):
            t0 = time.perf_counter()
            page = self.get(params)
            samples.append(time.perf_counter() - t0)
        calls1, usec1 = evalsha_usec(self.url)
        return {
            "params": params,
            "http_ms": summary_ms(samples),
            "redis_script_ms": (usec1 - usec0) / max(calls1 - calls0, 1) / 1e3,
            "rows": len(page["items"]),
            "more": page["next_cursor"] is not None,
        }

    def cursor_at(self, params: dict[str, Any], pages: int) -> str:
        """The cursor of page ``pages`` + 1 of a query."""
        cursor = None
        for _ in range(pages):
            cursor = self.get({**params, "cursor": cursor})["next_cursor"]
            if cursor is None:
                raise RuntimeError(f"{params} has fewer than {pages} pages")
        assert cursor is not None
        return cursor

    def walk_all(self, params: dict[str, Any]) -> dict[str, Any]:
        """Every page of a query, one after the other: rows, pages, total and worst page."""
        cursor, rows, times = None, 0, []
        began = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            page = self.get({**params, "cursor": cursor, "limit": self.plan.walk_limit})
            times.append(time.perf_counter() - t0)
            rows += len(page["items"])
            if (cursor := page["next_cursor"]) is None:
                break
        return {
            "params": params,
            "rows": rows,
            "pages": len(times),
            "total_s": time.perf_counter() - began,
            "page_ms": summary_ms(times),
        }


QUERIES: dict[str, dict[str, Any]] = {
    "newest": {},
    "project_big": {"project": "vision"},
    "project_rare": {"project": "audio"},
    "status_running": {"status": "running"},
    "tag_rare": {"tag": "baseline"},
    "filters_combined": {"project": "vision", "status": "failed", "tag": "sweep"},
    "search_rare": {"q": "NEEDLE"},
    "search_medium": {"q": "vit-b16-cifar10-lr30"},
    "search_common": {"q": "resnet"},
    "search_none": {"q": "no-such-name"},
    "sort_metric_desc": {"sort": "metric:val/acc"},
    "sort_metric_asc": {"sort": "metric:val/acc", "order": "asc"},
    "sort_name": {"sort": "name"},
    "sort_started": {"sort": "started"},
    "sort_finished_asc": {"sort": "finished", "order": "asc"},
    "sort_metric_project_rare": {"sort": "metric:val/loss", "project": "audio"},
    "search_common_sort_metric": {"q": "resnet", "sort": "metric:val/acc", "project": "nlp"},
    "search_rare_sort_metric": {"q": "needle", "sort": "metric:val/acc"},
    "sort_metric_drafts": {"sort": "metric:val/acc", "status": "draft"},
    "sort_started_drafts_vision": {"sort": "started", "status": "draft", "project": "vision"},
    "sort_name_search_common": {"sort": "name", "q": "resnet"},
}


def run(plan: Plan, quick: bool) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="runyard-bench-") as tmp,
        running_stack(Path(tmp)) as stack,
    ):
        log(f"server {stack.api} on Redis 127.0.0.1:{stack.redis.port}; filling {plan.tasks} tasks")
        results: dict[str, Any] = {"plan": {**asdict(plan), "quick": quick}}
        results["fill_s"] = round(fill(stack.redis.url, plan.tasks), 1)
        results["index_bytes_per_task"] = index_bytes(stack.redis.url, plan.tasks)
        log(f"filled in {results['fill_s']} s; {results['index_bytes_per_task']}")
        bench = Bench(stack.api, stack.redis.url, plan, requests.Session())
        timed: dict[str, Any] = {}
        for label, params in QUERIES.items():
            timed[label] = bench.time(params)
            log(f"{label}: p50 {timed[label]['http_ms']['p50']:.1f} ms")
        for label, params in (
            ("newest_deep", {}),
            ("sort_metric_deep", {"sort": "metric:val/acc"}),
            ("sort_name_deep", {"sort": "name"}),
        ):
            cursor = bench.cursor_at(params, plan.deep_page)
            timed[label] = bench.time({**params, "cursor": cursor})
            log(f"{label}: p50 {timed[label]['http_ms']['p50']:.1f} ms")
        results["queries"] = timed
        results["walk_all"] = {
            "metric": bench.walk_all({"sort": "metric:val/acc"}),
            "name": bench.walk_all({"sort": "name"}),
        }
        bench.session.close()
    return results


def _p50(name: str) -> str:
    return f"queries.{name}.http_ms.p50"


TARGETS: list[tuple[str, str, float, str]] = [
    ("name search, rare, p50 ms", _p50("search_rare"), 100.0, "le"),
    ("name search, common, p50 ms", _p50("search_common"), 100.0, "le"),
    ("name search, none, p50 ms", _p50("search_none"), 100.0, "le"),
    ("sort by final metric, p50 ms", _p50("sort_metric_desc"), 100.0, "le"),
    ("sort by final metric, deep page, p50 ms", _p50("sort_metric_deep"), 100.0, "le"),
    ("sort by final metric, p99 ms", "queries.sort_metric_desc.http_ms.p99", 100.0, "le"),
    ("name search, rare, p99 ms", "queries.search_rare.http_ms.p99", 100.0, "le"),
]


def render(results: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    plan = results["plan"]
    lines = [
        f"Runyard listing bench — {plan['tasks']} tasks (filled in {results['fill_s']} s)",
        "",
        f"{'query':<28} {'p50 ms':>8} {'p99 ms':>8} {'redis ms':>9} {'rows':>5}  params",
    ]
    for label, row in results["queries"].items():
        params = {k: v for k, v in row["params"].items() if k != "cursor"}
        deep = f" (page {plan['deep_page'] + 1})" if "cursor" in row["params"] else ""
        lines.append(
            f"{label:<28} {row['http_ms']['p50']:8.1f} {row['http_ms']['p99']:8.1f} "
            f"{row['redis_script_ms']:9.2f} {row['rows']:5d}  {params}{deep}"
        )
    lines.append("")
    for label, walk in results["walk_all"].items():
        lines.append(
            f"all pages by {label}: {walk['rows']} rows in {walk['pages']} pages of "
            f"{plan['walk_limit']}, {walk['total_s']:.2f} s; page p50 "
            f"{walk['page_ms']['p50']:.1f} ms, max {walk['page_ms']['max']:.1f} ms"
        )
    sizes = results["index_bytes_per_task"]
    lines += ["", "bytes per task: " + ", ".join(f"{k} {v:g}" for k, v in sizes.items())]
    lines += ["", "targets:", *target_lines(checks, width=42)]
    return "\n".join(lines)


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    return verdicts(results, TARGETS)


def run_plan(quick: bool) -> dict[str, Any]:
    return run(QUICK if quick else Plan(), quick)


def main(argv: list[str] | None = None) -> None:
    bench_main(
        argv,
        description=__doc__.split("\n\n")[0],
        default_out=HERE / "results" / "listing.json",
        quick_help="10,000 tasks (about a minute)",
        run=run_plan,
        check=judge,
        render=render,
    )


if __name__ == "__main__":
    main()
