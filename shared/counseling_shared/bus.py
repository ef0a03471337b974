"""Connecting to NATS as one user of the bus (`busauth` says what each user may do)."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client as NatsClient

from counseling_shared.busauth import inbox_prefix


@dataclass(frozen=True)
class BusCredentials:
    """Who connects: the user's name (its inbox prefix) and, with auth, its nkey seed."""

    user: str
    seed: str | None = None
    seed_file: Path | None = None
    tls_ca_file: Path | None = None

    @property
    def authenticated(self) -> bool:
        return self.seed is not None or self.seed_file is not None


def tls_server_name(url: str) -> str | None:
    """The name every server's certificate is checked against: the URL's host, unless it is
    an IP address.

    Why: a cluster advertises its servers' pod IPs; nats-py checks a server learned from a
    learned server (a restarted pod's new IP, after a failover) against that IP, and the
    certificates carry names only. (The Helm values also turn advertising off.)
    """
    # A list of servers (comma-separated) is pinned only when every entry names the same host:
    # one name could not verify servers listed by other names.
    hosts = {
        urlsplit(u if "://" in u else f"nats://{u}").hostname
        for u in (part.strip() for part in url.split(","))
        if u
    }
    if len(hosts) != 1 or not (host := hosts.pop()):
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None


def connect_options(credentials: BusCredentials, url: str | None = None) -> dict[str, Any]:
    """nats-py `connect` arguments for these credentials (no auth when no seed is given), for
    the server at `url` (with TLS, its name is the one every certificate is checked against)."""
    options: dict[str, Any] = {"name": credentials.user}
    # Replies and JetStream deliveries come to the user's own prefix: the only inbox
    # subjects the server lets it subscribe to.
    options["inbox_prefix"] = inbox_prefix(credentials.user)
    if credentials.seed is not None:
        options["nkeys_seed_str"] = credentials.seed
    elif credentials.seed_file is not None:
        options["nkeys_seed"] = str(credentials.seed_file)
    if credentials.tls_ca_file is not None:
        options["tls"] = ssl.create_default_context(cafile=str(credentials.tls_ca_file))
    tls = credentials.tls_ca_file is not None or (url or "").startswith("tls://")
    server_name = tls_server_name(url) if tls and url else None
    if server_name is not None:
        options["tls_hostname"] = server_name
    return options


async def connect_bus(url: str, credentials: BusCredentials, **options: Any) -> NatsClient:
    client: NatsClient = await nats.connect(url, **connect_options(credentials, url), **options)
    return client
