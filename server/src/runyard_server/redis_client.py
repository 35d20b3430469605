"""Every Redis client of the server is made here: from ``--redis-url`` (a plain Redis,
or any one node of a Redis Cluster with ``--redis-cluster``), or from Sentinel.

On a cluster every key shares one hash slot (``store/keys.py``), so each script and
``MULTI`` runs on the one master that holds Runyard's data; pub/sub (``ry:wake``) is
broadcast to every node, and the event stream's consumer groups live beside its key.

Behind Sentinel (``--redis-sentinel`` + ``--redis-master``) each new connection asks
the sentinels which server is the master now, so after a failover the clients follow
by themselves: a connection to the dead master fails (the request in flight gets 503
``unavailable``, see ``api.errors``), the next one reaches the promoted replica. A
master that was demoted answers writes with READONLY; redis-py's Sentinel connection
turns that into a ConnectionError and drops the connection, so it too ends in a 503
and a reconnect, never in a write to the wrong server. Scripts missing on the new
master (NOSCRIPT) are loaded again by redis-py's ``Script`` on first use, and the
long-poll dispatcher resubscribes through the same reconnect (``store.dispatch``).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast
from urllib.parse import urlsplit

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from runyard_server.config import Settings, sentinel_addresses

log = logging.getLogger("runyard_server")

# Asking the sentinels is one round trip; a sentinel that does not answer this fast is
# skipped for the next one in the list.
_SENTINEL_TIMEOUT_S = 1.0
FOLLOW_S = 0.2
"""How often each process asks the sentinels which server is master."""


_PACKER = HiredisRespSerializer()


class _HiredisPacking(AbstractConnection):
    """Commands packed by hiredis, as redis-py's own sync client does.

    The asyncio connection packs in Python, one ``isinstance`` chain and one bytes join
    per argument: a store script's call (about forty keys and arguments) took 16 µs to
    pack, hiredis takes 3 (about 6 % of a task's CPU in the API, a batch create's more).
    """

    def pack_command(self, *args: Any) -> list[bytes]:
        # hiredis alone for the usual command: a one-word name (redis-py splits "CONFIG
        # GET") and arguments it takes (str, bytes, int, float), without the serializer's
        # per-argument conversion, a tenth of a batch create's CPU.
        if isinstance(args[0], str) and " " not in args[0]:
            try:
                return [hiredis.pack_command(args)]
            except TypeError:
                pass  # a bytearray, or a value Redis takes none of: redis-py's way says which
        packed: list[bytes] = _PACKER.pack(*args)
        return packed


class _LostTransportIsConnectionError(AbstractConnection):
    """A lost connection raises ConnectionError, whatever the event loop.

    Redis killed between a connect and the first command (AUTH/HELLO) leaves a closed
    transport; uvloop (uvicorn's loop) then raises ``RuntimeError(... the handler is
    closed)``, which redis-py passes through, and the request got a 500. It is a lost
    connection like any other: dropped, and the request answered 503 ``unavailable``.
    """

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        try:
            await super().send_packed_command(command, check_health)
        except RuntimeError as exc:
            if "handler is closed" not in str(exc):
                raise
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"connection to Redis lost: {exc}") from exc


class _Connection(_HiredisPacking, _LostTransportIsConnectionError, aioredis.Connection):
    pass


class _SentinelConnection(
    _HiredisPacking, _LostTransportIsConnectionError, SentinelManagedConnection
):
    pass


class _FollowingSentinelPool(SentinelConnectionPool):
    """A Sentinel pool that keeps asking the sentinels which server is master.

    redis-py asks only when it opens a connection, and keeps using open ones: after a
    switchover that leaves the old master running (``SENTINEL FAILOVER``, a partition),
    the server went on writing to the old master, which acknowledged for ~10 s the
    writes it then threw away when the sentinels demoted it. So every ``FOLLOW_S`` the
    pool asks; on a change it closes idle connections (redis-py does, in
    ``get_master_address``), a connection still on the old master is closed when it
    comes back from its request, and ``on_change`` callbacks run (the dispatcher
    subscribes again).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_change: list[Callable[[], Awaitable[None]]] = []
        self._follower: asyncio.Task[None] | None = None

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self._follower is None:
            self._follower = asyncio.create_task(self._follow(), name="runyard-sentinel")
        return await super().get_connection(*args, **kwargs)

    async def release(self, connection: AbstractConnection) -> None:
        address = (getattr(connection, "host", None), getattr(connection, "port", None))
        if self.master_address is not None and address != self.master_address:
            await connection.disconnect()
        await super().release(connection)

    async def disconnect(self, inuse_connections: bool = True) -> None:
        # With in-use connections too: the client closes; without, a master change.
        if inuse_connections and self._follower is not None:
            self._follower.cancel()
            self._follower = None
        await super().disconnect(inuse_connections)

    async def _follow(self) -> None:
        pending = False  # callbacks to (re)run: the last change, or a failed run
        while True:
            await asyncio.sleep(FOLLOW_S)
            before = self.master_address
            try:
                now = await self.get_master_address()
                pending = pending or (before is not None and now != before)
                if pending:
                    log.warning("Redis master is now %s:%s", *now)
                    for callback in self.on_change:
                        await callback()
                    pending = False
            except (RedisError, OSError) as exc:
                log.warning("following the Redis master: %s; trying again", exc)


class _BlockingSentinelPool(_FollowingSentinelPool, aioredis.BlockingConnectionPool):
    """As the URL pool does, a burst waits for a free connection instead of failing with
    "Too many connections"."""


def on_master_change(client: aioredis.Redis, callback: Callable[[], Awaitable[None]]) -> None:
    """Run ``callback`` after the sentinels name another master (nothing for a URL)."""
    pool = getattr(client, "connection_pool", None)  # a cluster client has one per node
    if isinstance(pool, _FollowingSentinelPool):
        pool.on_change.append(callback)


def connect(settings: Settings, *, pool_size: int | None = None, **options: Any) -> aioredis.Redis:
    """A client of the settings' Redis with decoded replies.

    ``pool_size``: at most that many connections, a burst waiting up to 20 s for one
    (without it, a plain pool). ``options`` go to every connection (timeouts, health
    checks, retries).
    """
    if pool_size is not None:
        options.update(max_connections=pool_size, timeout=20)
    if settings.redis_sentinel and settings.redis_master:
        sentinel = Sentinel(
            sentinel_addresses(settings.redis_sentinel),
            sentinel_kwargs={
                "password": settings.redis_sentinel_password,
                "socket_timeout": _SENTINEL_TIMEOUT_S,
                "socket_connect_timeout": _SENTINEL_TIMEOUT_S,
            },
            password=settings.redis_password,
            decode_responses=True,
            **options,
        )
        sentinel_pool = _FollowingSentinelPool if pool_size is None else _BlockingSentinelPool
        client: aioredis.Redis = sentinel.master_for(
            settings.redis_master,
            connection_pool_class=sentinel_pool,
            connection_class=_SentinelConnection,
        )
        return client
    if not settings.redis_url:
        raise ValueError("no Redis configured: set redis_url, or redis_sentinel and redis_master")
    if settings.redis_cluster:
        # The cluster client keeps a pool per node; only the socket timeouts carry over.
        sockets = {k: v for k, v in options.items() if k.startswith("socket_")}
        return connect_url(
            settings.redis_url, cluster=True, max_connections=pool_size or 32, **sockets
        )
    if urlsplit(settings.redis_url).scheme == "redis":  # not TLS, not a unix socket
        options["connection_class"] = _Connection
    url_pool = aioredis.ConnectionPool if pool_size is None else aioredis.BlockingConnectionPool
    return aioredis.Redis.from_pool(
        url_pool.from_url(settings.redis_url, decode_responses=True, **options)
    )


def connect_url(url: str, *, cluster: bool = False, **options: Any) -> aioredis.Redis:
    """A client of ``url`` with decoded replies; ``options`` are redis-py's."""
    if cluster:
        # RedisCluster is not a subclass of Redis, but it has every command the store
        # uses (scripts, pipelines with WATCH/MULTI, pub/sub, streams) with the same
        # signatures, routing each by the key's slot.
        return cast(
            aioredis.Redis, aioredis.RedisCluster.from_url(url, decode_responses=True, **options)
        )
    return aioredis.Redis.from_url(url, decode_responses=True, **options)
