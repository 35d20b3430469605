"""One rank of a multi-node task: ``srun`` starts ``python -m
runyard_agent.executors.slurm.rank ARGV...`` once per node of the job; it sets what
``torch.distributed`` reads from Slurm's own variables and becomes the entry point.

``MASTER_ADDR`` and ``MASTER_PORT`` are the job's, not the rank's: :mod:`.node` (on the
job's first node) sets them before ``srun`` and every rank inherits them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping


def rank_environment(slurm: Mapping[str, str]) -> dict[str, str]:
    """``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE`` and ``NODE_RANK``
    from the ``SLURM_*`` variables ``srun`` gives each of its tasks."""
    return {
        "RANK": slurm["SLURM_PROCID"],
        "WORLD_SIZE": slurm["SLURM_NTASKS"],
        "LOCAL_RANK": slurm["SLURM_LOCALID"],
        # The batch script asks for one task per node.
        "LOCAL_WORLD_SIZE": slurm.get("SLURM_NTASKS_PER_NODE", "1"),
        "NODE_RANK": slurm["SLURM_NODEID"],
    }


def main(argv: list[str]) -> None:
    """Become ``argv`` with the rank's variables set."""
    os.execvpe(argv[0], argv, {**os.environ, **rank_environment(os.environ)})


if __name__ == "__main__":
    main(sys.argv[1:])
