"""What recording the audit trail costs a write: ``PATCH /queues/{name}`` in-process on
a real Redis, audited and with its route left out of the trail (the recorder still
runs, it only skips the ``XADD``). Prints the mean per request of each and the difference.

    .venv/bin/python bench/audit.py [--requests 3000]
"""

import argparse
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from runyard_server.api import audit_log
from runyard_server.config import Settings
from runyard_server.embedded import EmbeddedRedis
from runyard_server.main import create_app

ROUTE = "/api/v1/queues/{name}"


def mean_ms(api: TestClient, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        response = api.patch("/queues/bench", json={"max_running": i % 7 + 1})
        assert response.status_code == 200, response.text
    return (time.perf_counter() - started) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp)) as redis:
        app = create_app(Settings(redis_url=redis.url))
        with TestClient(app, base_url="http://localhost/api/v1") as api:
            api.post("/queues", json={"name": "bench"})
            mean_ms(api, 300)  # warm up
            audited, skipped = [], []
            for _ in range(3):  # interleaved, so drift on a shared machine hits both
                audited.append(mean_ms(api, args.requests))
                audit_log.MACHINE_TRAFFIC = audit_log.MACHINE_TRAFFIC | {ROUTE}
                skipped.append(mean_ms(api, args.requests))
                audit_log.MACHINE_TRAFFIC = audit_log.MACHINE_TRAFFIC - {ROUTE}
    a, s = min(audited), min(skipped)
    print(f"audited {a:.3f} ms/request, not audited {s:.3f} ms/request, cost {a - s:.3f} ms")


if __name__ == "__main__":
    main()
