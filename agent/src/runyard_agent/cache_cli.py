"""``runyard-agent cache list|prune``: what the venv cache holds, and making room.

Safe beside a running agent: pruning takes each venv's locks without waiting and
skips a venv a task runs in or an agent is building (``environments/venv_cache.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Sequence
from typing import Any

from runyard_agent.config import AgentSettings, settings_or_exit
from runyard_agent.environments.venv_cache import (
    CachedVenv,
    CacheLimits,
    evict,
    list_venvs,
    remove_venv,
)

_GIB = 1024**3


def build_parser() -> argparse.ArgumentParser:
    """``cache list`` and ``cache prune``; both read the agent's settings for the cache dir."""
    parser = argparse.ArgumentParser(
        prog="runyard-agent cache", description="Inspect or shrink the agent's venv cache."
    )
    parser.add_argument("--config", help="TOML settings file (RUNYARD_AGENT_CONFIG)")
    parser.add_argument("--cache-dir", help="default: the agent's (~/.cache/runyard-agent)")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="venvs, least recently used first")
    listing.add_argument("--json", action="store_true", help="one JSON object per venv")
    prune = commands.add_parser(
        "prune", help="evict least recently used venvs (default: to the agent's limits)"
    )
    prune.add_argument("--max-gb", type=float, help="shrink the venv cache to this size")
    prune.add_argument("--min-free-gb", type=float, help="free space to keep on the cache's disk")
    prune.add_argument("--all", action="store_true", help="remove every venv not in use")
    return parser


def cache_main(argv: Sequence[str]) -> int:
    """Run ``runyard-agent cache ...``; the exit code."""
    args = build_parser().parse_args(argv)
    given = {k: v for k in ("config", "cache_dir") if (v := getattr(args, k)) is not None}
    settings = settings_or_exit(lambda: AgentSettings(**given))
    if args.command == "list":
        _print_list(list_venvs(settings.cache_dir), args.json)
        return 0
    return _prune(settings, args)


def _print_list(venvs: list[CachedVenv], as_json: bool) -> None:
    if as_json:
        for venv in venvs:
            print(json.dumps(_record(venv)))
        return
    if not venvs:
        print("the venv cache is empty")
        return
    print(f"{'KEY':<24}  {'SIZE':>9}  {'LAST USED':<19}  IN USE  REQUIREMENTS")
    for venv in venvs:
        used = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(venv.last_used))
        reqs = ", ".join(venv.requirements) or "-"
        print(
            f"{venv.key:<24}  {venv.size_bytes / _GIB:>7.2f}Gi  {used:<19}  "
            f"{'yes' if venv.in_use else 'no':<6}  {reqs[:80]}"
        )
    total = sum(venv.size_bytes for venv in venvs)
    print(f"{len(venvs)} venv(s), {total / _GIB:.2f} GiB")


def _record(venv: CachedVenv) -> dict[str, Any]:
    return {
        "key": venv.key,
        "path": str(venv.path),
        "size_bytes": venv.size_bytes,
        "last_used": venv.last_used,
        "in_use": venv.in_use,
        "requirements": venv.requirements,
    }


def _prune(settings: AgentSettings, args: argparse.Namespace) -> int:
    cache_dir = settings.cache_dir
    if args.all:
        venvs = list_venvs(cache_dir)
        removed = [venv for venv in venvs if remove_venv(venv)]
        for venv in removed:
            print(f"removed {venv.key} ({venv.size_bytes / _GIB:.2f} GiB)")
    else:
        limits = CacheLimits.from_gib(
            args.max_gb if args.max_gb is not None else settings.venv_cache_max_gb,
            args.min_free_gb if args.min_free_gb is not None else settings.min_free_gb,
        )
        if limits is None:
            print("runyard-agent cache prune: give --max-gb, --min-free-gb or --all")
            return 2
        removed = evict(cache_dir, limits, print)
    kept = list_venvs(cache_dir)
    in_use = sum(1 for venv in kept if venv.in_use)
    text = f"removed {len(removed)} venv(s); {len(kept)} left ({in_use} in use)"
    if cache_dir.exists():
        text += f", {shutil.disk_usage(cache_dir).free / _GIB:.1f} GiB free"
    print(text)
    return 0
