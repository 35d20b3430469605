"""``python -m runyard_server.jobs --redis-url URL``: the rq worker beside the API.

The URL may also come in ``RUNYARD_REDIS_URL``, which keeps a password out of ``ps``.
"""

import argparse
import logging
import os

import redis
from rq import Queue, SimpleWorker

from runyard_server.config import Settings
from runyard_server.jobs.consumers import start_consumers
from runyard_server.jobs.reaper import JOBS_QUEUE, keep_scheduling


def main() -> None:
    parser = argparse.ArgumentParser(description="Runyard background jobs (rq worker)")
    from_env = os.environ.get("RUNYARD_REDIS_URL")
    parser.add_argument("--redis-url", default=from_env, required=from_env is None)
    parser.add_argument("--reap-interval", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s jobs %(levelname)s %(message)s")
    connection = redis.Redis.from_url(args.redis_url)
    keep_scheduling(connection, args.redis_url, args.reap_interval)
    # The rest of the settings (data dir, retention) come as RUNYARD_* from runyard-server.
    start_consumers(Settings(redis_url=args.redis_url))
    # SimpleWorker runs jobs in-process: the reaper is tiny and a fork per second is waste.
    worker = SimpleWorker([Queue(JOBS_QUEUE, connection=connection)], connection=connection)
    worker.work(with_scheduler=True, logging_level="WARNING")


if __name__ == "__main__":
    main()
