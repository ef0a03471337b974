"""Resolving a webhook receiver's host and refusing non-public addresses (see
`notify.domain.webhooks.addresses`)."""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from notify.domain.webhooks.addresses import is_public, literal_address


class RefusedAddress(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


async def check_public(url: str) -> None:
    """Raise `RefusedAddress` unless every address of the URL's host is public.

    Every address counts, not only the first: a name with one public and one private
    address could otherwise be delivered to the private one.
    """
    host = urlsplit(url).hostname or ""
    literal = literal_address(host)
    if literal is not None:
        if not is_public(literal):
            raise RefusedAddress(f"{literal} is not a public address")
        return
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RefusedAddress(f"{host} does not resolve ({exc.strerror or exc})") from None
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if not is_public(address):
            raise RefusedAddress(f"{host} resolves to {address}, not a public address")
