"""Reconnect bench: 200 agents and a 10 s server outage (issue 16).

    .venv/bin/python bench/reconnect.py [--agents N] [--outage-s S] [--out PATH]

Starts its own Redis and ``runyard-server``, then the agents of
``tests/faults/stampede.py`` (real ``Agent`` objects in this process, their loops and
the SDK transport waiting by ``runyard.retry``'s full jitter) behind a proxy whose
port closes for the outage. Prints when each agent sent its first request after the
port opened again (quantiles, the busiest 100 ms, a histogram by second) and writes
the JSON to ``--out``. The issue's bar: the reconnections spread over the backoff
window instead of arriving together.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

# The agents and the proxy are the fault test's (tests/faults/stampede.py): one copy.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import log, running_stack

from tests.faults.stampede import reconnect_after_outage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--outage-s", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/reconnect.json"))
    args = parser.parse_args()
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="runyard-reconnect-bench-") as root,
        running_stack(Path(root)) as stack,
    ):
        log(f"{args.agents} agents, outage {args.outage_s:g} s")
        outcome = reconnect_after_outage(
            stack.port, Path(root), agents=args.agents, outage_s=args.outage_s
        )
    print(outcome.render())
    results = {**outcome.summary(), "wall_s": round(time.monotonic() - started, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {args.out} ({results['wall_s']} s)")


if __name__ == "__main__":
    main()
