"""200 agents and a 10 s server outage: their reconnections spread out (issue 16).

Every retry loop of the agent and the SDK waits a full-jitter draw (:mod:`runyard.retry`),
so agents that lost the server at the same moment come back over the width of their
backoff window, not in one wave that would knock a just-restarted server over again.
The histogram is printed (``-s``); ``bench/reconnect.py`` records it.
"""

from collections.abc import Callable
from pathlib import Path

from runyard_server.embedded import EmbeddedRedis
from tests.faults.stampede import reconnect_after_outage
from tests.servers import ServerProcess

AGENTS = 200


def test_200_agents_first_requests_after_a_10s_outage_spread_over_seconds(
    server_factory: Callable[..., ServerProcess],
    redis_factory: Callable[..., EmbeddedRedis],
    tmp_path: Path,
) -> None:
    redis = redis_factory(fsync="everysec")
    server = server_factory("--redis-url", redis.url, "--no-jobs")
    outcome = reconnect_after_outage(server.port, tmp_path, agents=AGENTS, outage_s=10.0)
    print(outcome.render())
    assert len(outcome.offsets) == AGENTS
    # The claim and heartbeat loops send each attempt once and wait full-jitter draws
    # whose ceilings (1 s doubling, up to 30 s and lease/3) grow through the outage:
    # the middle 80 % of the agents come back over seconds (3-4.7 s measured), and no
    # 100 ms holds a crowd. Heartbeats due anyway (one agent in ten each second) and
    # streaks that began late in the outage fill the first second: its busiest 100 ms
    # held 13-23 agents on a quiet machine and 35 in a loaded CI run; a stampede puts
    # most of them in one window.
    assert outcome.quantile(0.9) - outcome.quantile(0.1) >= 2.0
    assert outcome.busiest(0.1) <= AGENTS * 0.25
