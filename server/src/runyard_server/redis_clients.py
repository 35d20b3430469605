"""The server's asyncio Redis clients: a plain Redis, or a Redis Cluster client when
``redis_cluster`` is set (``--redis-url`` then names any one node of the cluster).

Every key shares one hash slot (``store/keys.py``), so on a cluster each script and
``MULTI`` runs on the one master that holds Runyard's data; pub/sub (``ry:wake``) is
broadcast to every node, and the event stream's consumer groups live beside its key.
"""

from typing import Any, cast

import redis.asyncio as aioredis


def connect(url: str, cluster: bool, **options: Any) -> "aioredis.Redis":
    """A client of ``url``; ``options`` are redis-py's (``decode_responses=True``...)."""
    if cluster:
        # RedisCluster is not a subclass of Redis, but it has every command the store
        # uses (scripts, pipelines with WATCH/MULTI, pub/sub, streams) with the same
        # signatures, routing each by the key's slot.
        return cast(aioredis.Redis, aioredis.RedisCluster.from_url(url, **options))
    return aioredis.Redis.from_url(url, **options)
