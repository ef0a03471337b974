"""Which addresses a webhook may be delivered to: public ones only, outside development.

A subscription names any URL, so without a rule an integration key could make notify `POST`
to the cluster's own services, a cloud metadata endpoint (169.254.169.254) or the database's
host, and read the status codes back from the delivery log: server-side request forgery.
"""

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 prefixes that carry an IPv4 address a gateway or the host's stack may reach instead.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits
# RFC 8215 local-use NAT64: where the IPv4 part sits depends on the operator's prefix length,
# and nothing public lives there, so the whole range is refused.
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 ::ffff:0:a.b.c.d


def _wrapped_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 one wraps (mapped, 6to4, Teredo, NAT64, compatible,
    translated), which decide where a packet really goes; empty for a plain IPv6 address."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)  # the server and the (de-obfuscated) client
    last32 = ipaddress.IPv4Address(address.packed[-4:])
    if address in _NAT64 or address in _IPV4_TRANSLATED:
        return [last32]
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # :: and ::1 judged as IPv6
        return [last32]
    return []


def is_public(address: Address) -> bool:
    """True for a globally routable unicast address; False for private, loopback,
    link-local, shared (CGNAT), reserved, multicast and unspecified ones, also when an IPv6
    address wraps an IPv4 one that is not public (mapped, 6to4, Teredo, NAT64, compatible)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL:
            return False
        wrapped = _wrapped_ipv4(address)
        if wrapped:
            return all(_is_public_v4(v4) for v4 in wrapped)
    return address.is_global and not address.is_multicast


def _is_public_v4(address: ipaddress.IPv4Address) -> bool:
    return address.is_global and not address.is_multicast


def literal_address(host: str) -> Address | None:
    """The address a URL's host spells out (`10.0.0.5`, `[::1]`), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
