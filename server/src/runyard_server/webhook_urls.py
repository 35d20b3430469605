"""Webhook URLs are user input: where the server may send a POST (SSRF guard).

Only ``http`` and ``https`` are accepted, and, unless the operator started the server
with ``--webhook-allow-private``, only hosts whose every address is public: loopback,
link-local (169.254.0.0/16, where cloud metadata services answer), private,
shared-address, multicast, reserved and unspecified addresses are refused, IPv4
written inside IPv6 included. The check runs at create and again before each delivery
on the addresses the name resolves to then, and the delivery connects to the address
it checked, so a name that later resolves elsewhere (DNS rebinding) reaches nothing
the check refused.
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from runyard_server.errors import Invalid

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Target:
    """Where a checked URL's request goes: its ``host`` and ``port`` as written, and
    ``address``, the checked address to connect to."""

    scheme: str
    host: str
    port: int
    address: str


def _refusal(address: Address) -> str | None:
    """Why ``address`` is not a public one (None when it is)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind, flagged in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-public", not address.is_global),
    ):
        if flagged:
            return kind
    return None


def split(url: str) -> tuple[str, str, int]:
    """The scheme, host and port of ``url``; Invalid naming the problem when it is not
    an http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise Invalid(f"webhook URL {url!r} does not parse: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise Invalid(f"webhook URL {url!r}: only http:// and https:// URLs are accepted")
    if not parts.hostname:
        raise Invalid(f"webhook URL {url!r} names no host")
    if parts.username or parts.password:
        raise Invalid(f"webhook URL {url!r}: put no user or password in it (it is shown)")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve(url: str, allow_private: bool) -> Target:
    """The address to send ``url``'s request to, after checking every address its host
    resolves to; Invalid, naming the address, when one is refused (or none resolves)."""
    scheme, host, port = split(url)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise Invalid(f"webhook host {host} does not resolve: {error}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in found]
    if not addresses:
        raise Invalid(f"webhook host {host} does not resolve")
    if not allow_private:
        for address in addresses:
            why = _refusal(address)
            if why:
                raise Invalid(
                    f"webhook host {host} resolves to {address} ({why}): webhooks may "
                    "reach only public addresses unless the server runs with "
                    "--webhook-allow-private"
                )
    return Target(scheme, host, port, str(addresses[0]))
