"""The bus's users for this suite: each service's durables read from its own routing table,
a fresh nkey per user, and the files nats-server and each user need.

`write_bus_config(dir)` writes:
- `server/auth.conf`: nats-server's `authorization {}` block (public keys and permissions
  only, so it is the one file that is not private);
- `<user>/seed.nk`: each user's seed, owner-only, for `NATS_NKEY_SEED_FILE` (or its content
  for `NATS_NKEY_SEED`); the operator's is `counselctl/seed.nk`.
One directory per user, so a container can be given its own alone (a volume subpath, a
Secret). Seeds already there are kept, so services that hold one keep working.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from counseling_shared.bus import BusCredentials
from counseling_shared.busauth import (
    OPERATOR,
    BusUser,
    durables_of,
    new_seed,
    operator_permissions,
    public_key_of,
    render_server_authorization,
    service_permissions,
)
from counseling_shared.jetstream import ConsumerSpec
from opsctl.config import Service

AUTH_FILE = "server/auth.conf"
SEED_FILE = "seed.nk"


def service_consumers(service: Service) -> list[ConsumerSpec]:
    """Every durable the service declares (its routes' and their redrive durables)."""
    bootstrap = importlib.import_module(f"{service.value}.bootstrap")
    return durables_of(route.spec for route in bootstrap.definition().routes)


def bus_users(seeds: Mapping[str, str]) -> list[BusUser]:
    """One user per service and the operator, from their seeds (keyed by user name)."""
    users = [
        BusUser(
            s.value,
            public_key_of(seeds[s.value]),
            service_permissions(s.value, service_consumers(s)),
        )
        for s in Service
    ]
    users.append(BusUser(OPERATOR, public_key_of(seeds[OPERATOR]), operator_permissions()))
    return users


USERS = (*(s.value for s in Service), OPERATOR)


@dataclass(frozen=True)
class BusConfig:
    directory: Path
    seeds: dict[str, str]

    @property
    def auth_file(self) -> Path:
        return self.directory / AUTH_FILE

    def seed_file(self, user: str) -> Path:
        return self.directory / user / SEED_FILE

    def credentials(self, user: str) -> BusCredentials:
        return BusCredentials(user=user, seed=self.seeds[user])


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def write_bus_config(directory: Path) -> BusConfig:
    """Make (or complete) the users' seeds in `directory` and write nats-server's block."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    seeds: dict[str, str] = {}
    config = BusConfig(directory, seeds)
    for user in USERS:
        path = config.seed_file(user)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        seed = path.read_text().strip() if path.exists() else ""
        if not seed:
            seed = new_seed()
            _write_private(path, seed + "\n")
        seeds[user] = seed
    config.auth_file.parent.mkdir(exist_ok=True)
    # Public keys and permissions only: nothing secret, readable by the server's account.
    config.auth_file.write_text(render_server_authorization(bus_users(seeds)))
    return config
