"""Named users and their API tokens, stored in Redis (keys in ``keys.py``).

A token is 32 random bytes (``ry_`` + URL-safe base64), shown once when made; Redis
keeps only its SHA-256. A fast unsalted hash is enough for a secret of 256 random
bits: no guess list reaches it, so bcrypt's slowness (made for low-entropy passwords)
would only add ~100 ms to every request, and a salted hash could not be looked up
by the hash a request presents. Every request reads its token's record (one HGETALL,
no cache), so a revoked or expired token is refused at once by every replica.
"""

import hashlib
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from redis.exceptions import WatchError

from runyard.models import TokenInfo, User, UserRole
from runyard_server.errors import Conflict, NotFound
from runyard_server.store import keys
from runyard_server.store.records import flatten, number

if TYPE_CHECKING:
    import redis.asyncio as aioredis

TOKEN_PREFIX = "ry_"
"""What a stored token starts with (configured and task tokens never do)."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def add_user(r: "aioredis.Redis", name: str, role: UserRole, now: float) -> None:
    """Store a new user; Conflict when the name is taken."""
    async with r.pipeline(transaction=True) as pipe:
        pipe.hsetnx(keys.user(name), "role", role)
        pipe.hsetnx(keys.user(name), "created", number(now))
        pipe.sadd(keys.USERS, name)
        added, _, _ = await pipe.execute()
    if not added:
        raise Conflict(f"user {name} exists already")


async def user_role(r: "aioredis.Redis", name: str) -> UserRole | None:
    return cast(UserRole | None, await r.hget(keys.user(name), "role"))


async def create_token(
    r: "aioredis.Redis",
    *,
    name: str,
    user: str | None,
    pool: str | None,
    expires_in_s: int | None,
    now: float,
) -> tuple[str, TokenInfo]:
    """A new token for ``user`` (which must exist) or agent ``pool``: (secret, its info)."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = secrets.token_hex(6)
    fields = {"id": token_id, "name": name, "user": user or "", "pool": pool or ""}
    fields["created"] = number(now)
    if expires_in_s is not None:
        fields["expires"] = number(now + expires_in_s)
    hashed = digest(secret)
    async with r.pipeline(transaction=True) as pipe:
        try:
            if user is not None:
                # The user must not vanish between the check and the write.
                await pipe.watch(keys.user(user))
                if not await pipe.exists(keys.user(user)):
                    raise NotFound(f"user {user} does not exist")
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            pipe.hset(keys.token(hashed), items=flatten(fields))
            pipe.set(keys.token_id(token_id), hashed)
            pipe.sadd(keys.TOKENS, token_id)
            await pipe.execute()
        except WatchError:
            raise Conflict(f"user {user} changed while its token was made; retry") from None
    return secret, _info(fields)


async def token_record(r: "aioredis.Redis", secret: str, now: float) -> dict[str, str] | None:
    """The record of a live stored token presented as ``secret``, with its user's
    ``role``; None if unknown, revoked, expired or its user is gone."""
    record = cast(dict[str, str], await r.hgetall(keys.token(digest(secret))))
    if not record or float(record.get("expires", "inf")) <= now:
        return None
    if record["user"]:
        role = await user_role(r, record["user"])
        if role is None:
            return None
        record["role"] = role
    return record


async def list_users(r: "aioredis.Redis") -> list[User]:
    """Every named user, by name."""
    names = sorted(cast(set[str], await r.smembers(keys.USERS)))
    async with r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(keys.user(name))
        records = cast(list[dict[str, str]], await pipe.execute())
    # A user removed since the set was read has no record.
    return [_user(name, rec) for name, rec in zip(names, records, strict=True) if rec]


async def set_role(r: "aioredis.Redis", name: str, role: UserRole) -> User:
    """Give user ``name`` a new role; it counts from the next request (roles are read
    per request). NotFound when there is no such user."""
    async with r.pipeline(transaction=True) as pipe:
        try:
            await pipe.watch(keys.user(name))
            record = cast(dict[str, str], await pipe.hgetall(keys.user(name)))
            if not record:
                raise NotFound(f"user {name} does not exist")
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            pipe.hset(keys.user(name), "role", role)
            await pipe.execute()
        except WatchError:
            raise Conflict(f"user {name} changed while its role was set; retry") from None
    return _user(name, {**record, "role": role})


async def remove_user(r: "aioredis.Redis", name: str) -> int:
    """Delete user ``name`` and every token of theirs, in one step: their tokens are
    refused from the next request. Returns how many tokens went; NotFound when there
    is no such user."""
    async with r.pipeline(transaction=True) as pipe:
        try:
            # A token made or revoked meanwhile changes the set (or the user): retry.
            await pipe.watch(keys.user(name), keys.TOKENS)
            if not await pipe.exists(keys.user(name)):
                raise NotFound(f"user {name} does not exist")
            theirs = [(tid, h) for tid, h, rec in await _token_records(r) if rec["user"] == name]
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            pipe.delete(keys.user(name))
            pipe.srem(keys.USERS, name)
            for token_id, hashed in theirs:
                pipe.delete(keys.token(hashed), keys.token_id(token_id))
                pipe.srem(keys.TOKENS, token_id)
            await pipe.execute()
        except WatchError:
            raise Conflict(
                f"user {name} or the tokens changed while it was removed; retry"
            ) from None
    return len(theirs)


async def list_tokens(r: "aioredis.Redis", user: str | None) -> list[TokenInfo]:
    """The tokens of ``user`` (every token, agent pools' too, when None), oldest first."""
    records = [rec for _, _, rec in await _token_records(r)]
    infos = [_info(rec) for rec in records if user is None or rec["user"] == user]
    return sorted(infos, key=lambda info: info.created)


async def _token_records(r: "aioredis.Redis") -> list[tuple[str, str, dict[str, str]]]:
    """Every stored token as (id, hash of its secret, record)."""
    ids = sorted(cast(set[str], await r.smembers(keys.TOKENS)))
    async with r.pipeline(transaction=False) as pipe:
        for token_id in ids:
            pipe.get(keys.token_id(token_id))
        hashes = cast(list[str | None], await pipe.execute())
    async with r.pipeline(transaction=False) as pipe:
        for hashed in hashes:
            pipe.hgetall(keys.token(hashed or "-"))
        records = cast(list[dict[str, str]], await pipe.execute())
    found = zip(ids, hashes, records, strict=True)
    return [(token_id, hashed, rec) for token_id, hashed, rec in found if hashed and rec]


async def revoke_token(r: "aioredis.Redis", token_id: str, user: str | None) -> None:
    """Delete token ``token_id``; ``user`` (None: anyone's) must own it, else NotFound."""
    async with r.pipeline(transaction=True) as pipe:
        try:
            await pipe.watch(keys.token_id(token_id))
            hashed = cast(str | None, await pipe.get(keys.token_id(token_id)))
            owner = await pipe.hget(keys.token(hashed), "user") if hashed else None
            if hashed is None or owner is None or (user is not None and owner != user):
                raise NotFound(f"token {token_id} does not exist or is not yours")
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            pipe.delete(keys.token(hashed), keys.token_id(token_id))
            pipe.srem(keys.TOKENS, token_id)
            await pipe.execute()
        except WatchError:
            raise Conflict(f"token {token_id} changed while it was revoked; retry") from None


def _user(name: str, record: dict[str, str]) -> User:
    return User(
        name=name,
        role=cast(UserRole, record["role"]),
        created=datetime.fromtimestamp(float(record["created"]), UTC),
    )


def _info(fields: dict[str, str]) -> TokenInfo:
    expires = fields.get("expires")
    return TokenInfo(
        id=fields["id"],
        name=fields["name"],
        user=fields["user"] or None,
        pool=fields["pool"] or None,
        created=datetime.fromtimestamp(float(fields["created"]), UTC),
        expires=None if expires is None else datetime.fromtimestamp(float(expires), UTC),
    )
