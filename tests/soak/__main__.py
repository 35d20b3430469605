"""``python -m tests.soak [--minutes N] [--seed S] [--dir DIR] [--out report.json]``."""

import argparse
import sys
import tempfile
from pathlib import Path

from tests.soak.driver import Soak, SoakConfig, seeded, write_report


def main() -> int:
    parser = argparse.ArgumentParser(description="Runyard chaos soak (see tests/soak)")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, help="default: a fresh one, printed")
    parser.add_argument("--agents", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="where processes keep data and logs")
    parser.add_argument("--out", type=Path, default=Path("bench/results/soak.json"))
    args = parser.parse_args()
    seed = seeded(args.seed)
    root = args.dir or Path(tempfile.mkdtemp(prefix="runyard-soak-"))
    print(f"soak: seed {seed}, {args.minutes:g} min, {args.agents} agents, data in {root}")
    sys.stdout.flush()
    config = SoakConfig(seed=seed, minutes=args.minutes, root=root, agents=args.agents)
    report = Soak(config).run()
    write_report(report, args.out)
    print(report.summary())
    print(f"report: {args.out}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
