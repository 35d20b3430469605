"""``runyard-server``: the API, its embedded Redis (unless --redis-url or --redis-sentinel)
and the jobs process."""

import argparse
import logging
import os
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any, get_args

import uvicorn
from pydantic import ValidationError

from runyard.models import API_PREFIX
from runyard_server import admin, server_log
from runyard_server.children import die_with_parent
from runyard_server.config import Settings
from runyard_server.embedded import EmbeddedRedis, EmbeddedRedisError
from runyard_server.errors import StoreUnavailable
from runyard_server.main import create_app
from runyard_server.storage import open_stores

log = logging.getLogger("runyard_server")


def _help(setting: str) -> str:
    """The setting's description and default, as the settings model states them."""
    field = Settings.model_fields[setting]
    what, default = field.description or setting, field.get_default(call_default_factory=True)
    return what if default is None else f"{what} (default {default})"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="runyard-server",
        description="Runyard coordination server. Every flag also reads RUNYARD_<FLAG>.",
    )
    p.add_argument("--host", help=_help("host"))
    p.add_argument("--port", type=int, help=_help("port"))
    p.add_argument("--data-dir", type=Path, help=_help("data_dir"))
    p.add_argument("--redis-url", help=_help("redis_url"))
    p.add_argument("--redis-sentinel", metavar="HOST:PORT,...", help=_help("redis_sentinel"))
    p.add_argument("--redis-master", metavar="NAME", help=_help("redis_master"))
    p.add_argument(
        "--redis-min-replicas-ack",
        type=int,
        metavar="N",
        help=_help("redis_min_replicas_ack"),
    )
    p.add_argument(
        "--redis-ack-timeout-ms",
        type=int,
        metavar="MS",
        help=_help("redis_ack_timeout_ms"),
    )
    p.add_argument(
        "--redis-cluster", action="store_true", default=None, help=_help("redis_cluster")
    )
    p.add_argument(
        "--token",
        action="append",
        dest="tokens",
        metavar="ROLE:SECRET",
        help="accept this bearer token; ROLE is user, agent or metrics (repeatable)",
    )
    p.add_argument("--token-file", type=Path, metavar="PATH", help=_help("token_file"))
    p.add_argument("--allowed-hosts", metavar="NAME,...", help=_help("allowed_hosts"))
    p.add_argument("--lease", type=float, dest="lease_s", help=_help("lease_s"))
    p.add_argument("--first-lease", type=float, dest="first_lease_s", help=_help("first_lease_s"))
    p.add_argument(
        "--gang-timeout", type=float, dest="gang_timeout_s", help=_help("gang_timeout_s")
    )
    p.add_argument("--local-lease", type=float, dest="local_lease_s", help=_help("local_lease_s"))
    p.add_argument(
        "--reap-interval", type=int, dest="reap_interval_s", help=_help("reap_interval_s")
    )
    p.add_argument(
        "--redis-fsync",
        choices=get_args(Settings.model_fields["redis_fsync"].annotation),
        help=_help("redis_fsync"),
    )
    p.add_argument(
        "--retention-days",
        type=float,
        dest="history_retention_days",
        help=_help("history_retention_days"),
    )
    p.add_argument(
        "--audit-live-days", type=float, dest="audit_live_days", help=_help("audit_live_days")
    )
    p.add_argument(
        "--event-retry",
        type=float,
        dest="event_retry_s",
        help=_help("event_retry_s"),
    )
    for flag in ("after", "window", "hold"):
        p.add_argument(
            f"--preempt-{flag}",
            type=float,
            dest=f"preempt_{flag}_s",
            help=_help(f"preempt_{flag}_s"),
        )
    p.add_argument(
        "--webhook-allow-private",
        action="store_true",
        default=None,
        help=_help("webhook_allow_private"),
    )
    p.add_argument(
        "--schedule-tick", type=float, dest="schedule_tick_s", help=_help("schedule_tick_s")
    )
    p.add_argument("--storage", metavar="s3://BUCKET/PREFIX", help=_help("storage"))
    p.add_argument("--storage-endpoint-url", metavar="URL", help=_help("storage_endpoint_url"))
    p.add_argument(
        "--no-jobs",
        action="store_false",
        dest="jobs",
        default=None,
        help="do not start the jobs process, the lease reaper (run it elsewhere)",
    )
    p.add_argument("--workers", type=int, help=_help("workers"))
    p.add_argument("--log-level", help=_help("log_level"))
    return p


def load_settings(argv: list[str] | None = None) -> Settings:
    args = build_parser().parse_args(argv)
    given: dict[str, Any] = {k: v for k, v in vars(args).items() if v is not None}
    return Settings(**given)


def start_jobs_worker(settings: Settings) -> subprocess.Popen[bytes]:
    assert settings.external_redis
    command = [
        sys.executable, "-m", "runyard_server.jobs",
        "--reap-interval", str(settings.reap_interval_s),
    ]  # fmt: skip
    # The URL carries the Redis password: the environment, unlike argv, is not in `ps`.
    env = {**os.environ, **settings.to_env()}
    return subprocess.Popen(
        command, stdin=subprocess.DEVNULL, env=env, preexec_fn=die_with_parent()
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then stop what was started, in reverse order."""
    with ExitStack() as stack:
        if not settings.external_redis:
            embedded = EmbeddedRedis(settings.data_dir / "redis", fsync=settings.redis_fsync)
            stack.enter_context(embedded)
            settings = settings.model_copy(update={"redis_url": embedded.url})
            print(
                f"runyard-server: embedded Redis on 127.0.0.1:{embedded.port} (password in "
                f"{embedded.data_dir / 'password'}), data in {embedded.data_dir}",
                file=sys.stderr,
            )
        if settings.jobs:
            stack.callback(stop, start_jobs_worker(settings))
        print(
            f"runyard-server: API on http://{settings.host}:{settings.port}{API_PREFIX}",
            file=sys.stderr,
        )
        server_log.configure(settings.log_level)
        # uvicorn shuts the API down on SIGTERM, then raises the signal again with the
        # handler found before it started: this one turns it into an exit that unwinds
        # the stack above (jobs worker, then Redis) instead of dying on the spot.
        signal.signal(signal.SIGTERM, _exit_cleanly)
        run_api(settings)


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def run_api(settings: Settings) -> None:
    """uvicorn in this process, or ``--workers`` processes that rebuild the settings."""
    # uvicorn's access log prints query strings, where the log stream's ?ticket= rides;
    # EdgeMiddleware logs each request without them.
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
    }
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **common)
        return
    os.environ.update(settings.to_env())
    uvicorn.run(
        "runyard_server.main:app_from_env", factory=True, workers=settings.workers, **common
    )


def describe_invalid(exc: ValidationError) -> str:
    """What is wrong with the settings, without the values given: pydantic's own
    message quotes them, and one short token would print every token in the list."""
    problems = exc.errors(include_url=False, include_input=False)
    return "invalid settings: " + "; ".join(
        f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in problems
    )


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["admin"]:
        admin.main(args[1:])
        return
    try:
        settings = load_settings(argv)
        settings.check_exposure()
    except ValidationError as exc:
        print(f"runyard-server: {describe_invalid(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    except ValueError as exc:
        print(f"runyard-server: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        # Fail at start, naming the bucket, rather than on the first upload.
        open_stores(settings, check=True)
    except (StoreUnavailable, RuntimeError) as exc:
        print(f"runyard-server: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        serve(settings)
    except KeyboardInterrupt:
        raise SystemExit(130) from None  # Ctrl-C: stopped in order like SIGTERM, no traceback
    except EmbeddedRedisError as exc:
        print(f"runyard-server: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
