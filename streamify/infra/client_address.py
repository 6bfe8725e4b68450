"""Who a per-address limit counts: an IPv4 client by its address, an IPv6 client by its /64.

One IPv6 subscriber holds a whole /64 (2^64 addresses): counting each address apart would
give one person as many allowances as they care to use (log-in guesses, sign-ups, persisted
queries), so limits count the network, as an IPv4 address stands for one line."""

from __future__ import annotations

import functools
import ipaddress

IPV6_PREFIX = 64


@functools.lru_cache(maxsize=65536)
def limit_subject(host: str) -> str:
    """`host` as limits count it: `2001:db8:1:2::/64` for any address in that network, the
    IPv4 address of an IPv4-mapped one, anything that is not an address as it is."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)
