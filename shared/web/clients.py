"""Who the client is: the TCP peer, or behind trusted proxies the address the nearest of them saw.

Each proxy appends the address it received the request from to ``X-Forwarded-For``, so only the
entries our own proxies appended can be believed: with ``TRUSTED_PROXY_HOPS=N`` the client is the
Nth entry from the right; anything further left is whatever the client chose to send. With no
trusted hop, the header is ignored and the peer is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

#: IPv6 clients are told apart by their /64: one host is given a whole /64 and can pick any address in it.
IPV6_PREFIX = 64


def client_address(environ: Mapping[str, Any], trusted_hops: int) -> str:
    """The client's address for a WSGI ``environ``: ``REMOTE_ADDR``, or the trusted X-Forwarded-For entry.

    A request that came through fewer proxies than ``trusted_hops`` (a shorter header, or an entry
    that is not an address) is told apart by its peer: nothing in it can be trusted.
    """
    peer = str(environ.get("REMOTE_ADDR") or "unknown")
    if trusted_hops <= 0:
        return peer
    forwarded = [entry.strip() for entry in str(environ.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    forwarded = [entry for entry in forwarded if entry]
    if len(forwarded) < trusted_hops:
        return peer
    entry = forwarded[-trusted_hops]
    return entry if _address(entry) is not None else peer


def client_key(address: str) -> str:
    """What a client's limits and share are counted under: its IPv4 address, its IPv6 /64."""
    parsed = _address(address)
    if parsed is None:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_PREFIX), strict=False))
    return str(parsed)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def identify(environ: Mapping[str, Any], trusted_hops: int) -> str:
    """The key a request's client is counted under (see ``client_address`` and ``client_key``)."""
    return client_key(client_address(environ, trusted_hops))
