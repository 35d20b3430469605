"""``runyard``: the entry point, global flags and how errors become exit codes.

Exit codes: 0 success, 1 the server refused or could not be reached (one line on
stderr), 2 a usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError

from runyard._version import __version__
from runyard.cli import (
    audit,
    automation,
    pipelines,
    projects,
    queues,
    quotas,
    sweeps,
    tasks,
    tokens,
    users,
    workers,
)
from runyard.cli.common import UsageError
from runyard.errors import RunyardError

if TYPE_CHECKING:
    from runyard.client import Client

Command = Callable[["Client", argparse.Namespace], int]

# A CLI user waits for an answer: a few quick retries, not the SDK's patient default.
_CLI_RETRIES = 3


def build_parser() -> argparse.ArgumentParser:
    """The full ``runyard`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="runyard",
        description="Queue, inspect and rerun experiments on a Runyard server.",
    )
    parser.add_argument("--version", action="version", version=f"runyard {__version__}")
    parser.add_argument(
        "--server", help="server URL (default: $RUNYARD_SERVER or http://127.0.0.1:8008)"
    )
    parser.add_argument("--token", help="API token (default: $RUNYARD_TOKEN)")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the server (default 10)"
    )
    groups = parser.add_subparsers(
        dest="group",
        metavar=(
            "{task,queue,sweep,worker,token,quota,user,project,audit,pipeline,schedule,trigger,"
            "webhook}"
        ),
        required=True,
    )
    tasks.register(groups)
    queues.register(groups)
    sweeps.register(groups)
    quotas.register(groups)
    workers.register(groups)
    tokens.register(groups)
    users.register(groups)
    projects.register(groups)
    audit.register(groups)
    pipelines.register(groups)
    automation.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``runyard`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command = args.func
    # Imported here, after parsing: `--help` and usage errors never load requests.
    from runyard.client import Client

    try:
        with Client(args.server, args.token, timeout=args.timeout, retries=_CLI_RETRIES) as client:
            return command(client, args)
    except UsageError as exc:
        parser.error(str(exc))
    except ValidationError as exc:
        parser.error(_validation_message(exc))
    except RunyardError as exc:
        print(f"runyard: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `runyard task logs ID | head`: the reader left; that is not an error.
        sys.stderr.close()
        return 0


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
