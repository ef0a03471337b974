"""Which addresses a webhook may be delivered to: public ones only, outside development.

A subscription names any URL, so without a rule an integration key could make notify `POST`
to the cluster's own services, a cloud metadata endpoint (169.254.169.254) or the database's
host, and read the status codes back from the delivery log: server-side request forgery.
"""

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(address: Address) -> bool:
    """True for a globally routable unicast address; False for private, loopback,
    link-local, shared (CGNAT), reserved, multicast and unspecified ones, also when an IPv6
    address only wraps an IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def literal_address(host: str) -> Address | None:
    """The address a URL's host spells out (`10.0.0.5`, `[::1]`), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
