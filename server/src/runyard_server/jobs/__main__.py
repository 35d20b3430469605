"""``python -m runyard_server.jobs [--redis-url URL]``: the jobs process beside the API.

The URL may also come in ``RUNYARD_REDIS_URL`` (or a Sentinel set in
``RUNYARD_REDIS_SENTINEL``/``RUNYARD_REDIS_MASTER``), which keeps a password out of
``ps``; the rest of the settings (data dir, retention) come as ``RUNYARD_*`` from
``runyard-server``.
"""

import argparse
import asyncio
import logging
import os
import signal

from runyard_server.config import Settings
from runyard_server.jobs.automation import run_automation
from runyard_server.jobs.consumers import run_consumers
from runyard_server.jobs.preempter import preempt_forever
from runyard_server.jobs.reaper import reap_forever
from runyard_server.redis_client import connect
from runyard_server.store.migrate import rename_untagged_keys
from runyard_server.store.preemption import PreemptPolicy

log = logging.getLogger("runyard_server.jobs")
# A call that hangs longer than this (Redis frozen, network cut) is given up and retried.
_REDIS_TIMEOUT_S = 5.0


async def run(settings: Settings, reap_interval_s: float) -> None:
    """The background loops on one event loop (the reaper and the preemption loop on one
    Redis client, the event consumers on another, as they block on ``XREADGROUP``),
    until SIGTERM/SIGINT or until the process that started this one is gone."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    client = connect(
        settings, socket_timeout=_REDIS_TIMEOUT_S, socket_connect_timeout=_REDIS_TIMEOUT_S
    )
    if not settings.redis_cluster:
        # Before the consumers make a new events stream under the tagged name.
        await rename_untagged_keys(client)
    watcher = asyncio.create_task(_stop_when_orphaned(stop))
    try:
        await asyncio.gather(
            reap_forever(client, reap_interval_s, stop),
            preempt_forever(client, _policy(settings), settings.alive_after_s, stop),
            run_consumers(settings, stop),
            run_automation(settings, stop),
        )
    finally:
        watcher.cancel()
        await client.aclose()
    log.info("jobs process stopped")


def _policy(settings: Settings) -> PreemptPolicy:
    return PreemptPolicy(
        after_s=settings.preempt_after_s,
        window_s=settings.preempt_window_s,
        hold_s=settings.preempt_hold_s,
    )


async def _stop_when_orphaned(stop: asyncio.Event) -> None:
    # The server sends SIGTERM through PDEATHSIG when it dies (Linux); elsewhere, or when
    # the signal is lost, a new parent means the server that started us is gone.
    started_by = os.getppid()
    while not stop.is_set():
        if os.getppid() != started_by:
            log.warning("the process that started the jobs process is gone; stopping")
            stop.set()
        await asyncio.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description="Runyard background jobs (the lease reaper)")
    parser.add_argument("--redis-url", help="default: RUNYARD_REDIS_URL, or RUNYARD_REDIS_SENTINEL")
    parser.add_argument("--reap-interval", type=int, default=1)
    args = parser.parse_args()
    settings = Settings(**({"redis_url": args.redis_url} if args.redis_url else {}))
    if not settings.external_redis:
        parser.error("give --redis-url, or RUNYARD_REDIS_URL or RUNYARD_REDIS_SENTINEL")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s jobs %(levelname)s %(message)s")
    asyncio.run(run(settings, args.reap_interval))


if __name__ == "__main__":
    main()
