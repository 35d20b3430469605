"""``runyard-server admin``: manage users straight in the store, server running or not.

With ``--redis-url`` (or a Sentinel set) it talks to that Redis. Without, it uses the
embedded Redis of ``--data-dir``: the running server's (its port is in
``DATA_DIR/redis/port``), or, when none answers there, one it starts for the command.
"""

import argparse
import asyncio
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, get_args

import redis

from runyard.models import UserRole, is_valid_name
from runyard_server.config import Settings
from runyard_server.embedded import EmbeddedRedis
from runyard_server.errors import RunyardServerError
from runyard_server.redis_client import connect
from runyard_server.store import identity


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="runyard-server admin", description="manage users in the server's store"
    )
    p.add_argument("--data-dir", type=Path, help="the server's data directory")
    p.add_argument("--redis-url", help="the server's Redis, if not the embedded one")
    groups = p.add_subparsers(dest="group", required=True)
    users = groups.add_parser("user", help="named users").add_subparsers(
        dest="command", required=True
    )
    add = users.add_parser("add", help="a new user; prints its first token (shown once)")
    add.add_argument("name", type=_name)
    add.add_argument("--role", choices=get_args(UserRole), required=True)
    users.add_parser("list", help="every user and their role")
    role = users.add_parser("role", help="give a user another role")
    role.add_argument("name", type=_name)
    role.add_argument("role", choices=get_args(UserRole))
    remove = users.add_parser("remove", help="remove a user; their tokens stop working at once")
    remove.add_argument("name", type=_name)
    return p


def _name(text: str) -> str:
    if not is_valid_name(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a user name: 1-64 letters, digits, '.', '_' or '-'"
        )
    return text


def _running_embedded(redis_dir: Path) -> str | None:
    """The URL of the embedded Redis a running server holds in ``redis_dir``, if any."""
    try:
        port = int((redis_dir / "port").read_text())
    except (OSError, ValueError):
        return None
    url = EmbeddedRedis(redis_dir, port=port).url
    try:
        with redis.Redis.from_url(url, socket_timeout=1) as client:
            client.ping()
    except redis.RedisError:
        return None
    return url


async def _run(settings: Settings, args: argparse.Namespace) -> str:
    """Do the command against the store; what to print on stdout."""
    r = connect(settings)
    try:
        now = time.time()
        if args.command == "add":
            await identity.add_user(r, args.name, args.role, now)
            secret, _ = await identity.create_token(
                r, name="first", user=args.name, pool=None, expires_in_s=None, now=now
            )
            print(
                f"user {args.name} ({args.role}) added; its token, shown only now:", file=sys.stderr
            )
            return secret
        if args.command == "role":
            await identity.set_role(r, args.name, args.role)
            return f"user {args.name} is now {args.role}"
        if args.command == "remove":
            revoked = await identity.remove_user(r, args.name)
            return f"user {args.name} removed, {revoked} token(s) revoked"
        users = await identity.list_users(r)
        return "\n".join(
            f"{u.name}\t{u.role}\t{u.created.isoformat(timespec='seconds')}" for u in users
        )
    finally:
        await r.aclose()


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    given: dict[str, Any] = {"data_dir": args.data_dir, "redis_url": args.redis_url}
    settings = Settings(**{k: v for k, v in given.items() if v is not None})
    with ExitStack() as stack:
        if not settings.external_redis:
            redis_dir = settings.data_dir / "redis"
            url = _running_embedded(redis_dir)
            if url is None:
                url = stack.enter_context(EmbeddedRedis(redis_dir)).url
            settings = settings.model_copy(update={"redis_url": url})
        try:
            out = asyncio.run(_run(settings, args))
        except RunyardServerError as exc:
            print(f"runyard-server admin: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
    if out:
        print(out)
