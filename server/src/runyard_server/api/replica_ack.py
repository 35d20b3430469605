"""Acknowledged means replicated: ``--redis-min-replicas-ack N`` (Redis ``WAIT``).

Redis's ``WAIT`` counts the replicas that have every write made *on the connection
it runs on*, and a request's writes go over whichever pooled connections were free.
So once a state-changing request's handler is done, and before its answer leaves,
this middleware publishes on ``ry:ack`` and runs ``WAIT`` on that same connection:
the publish enters the replication stream after all of the request's writes, so a
replica that has it has them too. Sentinel promotes the replica that got furthest,
so a failover keeps every write a client was told about.

Not replicated in time (or Redis gone meanwhile): the answer becomes 503
``unavailable``. The write may still have been made; it stays if the master lives or
a replica got it after all. Retrying is safe for everything the server treats as
idempotent (reports fenced by the lease token, log batches by ``seq``, claims by the
short first lease); a retried create can make a second task (docs/reliability.md).

Reads (GET, HEAD, OPTIONS) and refused requests (4xx, 5xx) changed nothing and are
passed through untouched.
"""

import logging

from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runyard.models import ErrorCode
from runyard_server.api.errors import error_response
from runyard_server.store import keys

log = logging.getLogger("runyard_server")

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class ReplicaAckMiddleware:
    """Holds back a successful state-changing answer until ``replicas`` replicas have
    its writes, for at most ``timeout_ms``; a 503 ``unavailable`` instead otherwise."""

    def __init__(self, app: ASGIApp, replicas: int, timeout_ms: int) -> None:
        self.app, self.replicas, self.timeout_ms = app, replicas, timeout_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _READS:
            await self.app(scope, receive, send)
            return
        replaced = False

        async def send_once_replicated(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the body of the answer the 503 replaced
            if message["type"] == "http.response.start" and message["status"] < 400:
                problem = await self._replicate(scope)
                if problem:
                    replaced = True
                    response = error_response(503, ErrorCode.UNAVAILABLE, problem)
                    await response(scope, receive, send)
                    return
            await send(message)

        await self.app(scope, receive, send_once_replicated)

    async def _replicate(self, scope: Scope) -> str | None:
        """None once enough replicas have the request's writes, else why not."""
        r = scope["app"].state.redis
        try:
            async with r.pipeline(transaction=False) as pipe:
                pipe.publish(keys.ACK_CHANNEL, "")
                pipe.wait(self.replicas, self.timeout_ms)
                _, acked = await pipe.execute()
        except RedisError as exc:
            log.error("redis unavailable while waiting for replicas: %s", exc)
            acked = 0
        if acked >= self.replicas:
            return None
        log.warning(
            "%s %s: %d of %d replicas acknowledged within %d ms",
            scope["method"],
            scope["path"],
            acked,
            self.replicas,
            self.timeout_ms,
        )
        return (
            f"the task store did not copy this change to {self.replicas} replica(s) within "
            f"{self.timeout_ms} ms, so it may be lost in a failover: it may or may not have "
            "been made. Check before retrying a create; other requests are safe to retry"
        )
