"""Bytecode bench: importing heavy packages from an agent venv, with and without ``.pyc``.

    .venv/bin/python bench/bytecode.py [--index-url URL] [--runs N] [--out PATH]

Builds one venv the way the agent does (``ensure_venv``: uv with ``--compile-bytecode``)
for PACKAGES, then times ``python -c "import ..."`` under ``PYTHONDONTWRITEBYTECODE=1``
(common in images: nothing compiled at import is kept, so every run compiles again):
first as built, then with every ``__pycache__`` removed, which is what a venv built
without ``--compile-bytecode`` holds. Medians of ``--runs`` runs, alternated. The
packages come from ``--index-url`` (a local mirror, say) or uv's default index.
Prints a table and writes JSON (default bench/results/bytecode.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from runyard.models import Environment
from runyard_agent.environments.venv import ensure_venv

PACKAGES = ["pandas", "scikit-learn"]
IMPORTS = "import pandas, sklearn.ensemble, sklearn.model_selection"


def import_s(python: Path) -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    began = time.perf_counter()
    subprocess.run([str(python), "-c", IMPORTS], env=env, check=True)
    return time.perf_counter() - began


def strip_bytecode(venv: Path) -> int:
    """Remove every ``__pycache__`` under ``venv``; how many folders went."""
    folders = list(venv.rglob("__pycache__"))
    for folder in folders:
        shutil.rmtree(folder)
    return len(folders)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index-url", help="the package index (default: uv's own)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "bytecode.json"
    )
    args = parser.parse_args()
    if args.index_url:
        os.environ["UV_INDEX_URL"] = args.index_url
    with tempfile.TemporaryDirectory(prefix="runyard-bytecode-") as tmp:
        cache = Path(tmp)
        began = time.monotonic()
        python = ensure_venv(Environment(requirements=PACKAGES), cache, lambda line: None)
        build_s = time.monotonic() - began
        venv = python.parent.parent
        import_s(python)  # the page cache warm for both variants
        compiled = [import_s(python) for _ in range(args.runs)]
        stripped = strip_bytecode(venv)
        source_only = [import_s(python) for _ in range(args.runs)]
    results = {
        "packages": PACKAGES,
        "imports": IMPORTS,
        "python": sys.version.split()[0],
        "venv_build_s": round(build_s, 2),
        "runs": args.runs,
        "import_s_with_bytecode": round(statistics.median(compiled), 3),
        "import_s_without_bytecode": round(statistics.median(source_only), 3),
        "pycache_folders": stripped,
    }
    ratio = results["import_s_without_bytecode"] / results["import_s_with_bytecode"]
    rows = [
        ("venv build (uv --compile-bytecode)", f"{results['venv_build_s']:.2f} s"),
        ("import, bytecode compiled at build", f"{results['import_s_with_bytecode']:.3f} s"),
        (
            "import, no bytecode (DONTWRITEBYTECODE)",
            f"{results['import_s_without_bytecode']:.3f} s",
        ),
        ("slower without bytecode", f"{ratio:.1f} x"),
    ]
    for label, value in rows:
        print(f"{label:<42}{value:>10}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
