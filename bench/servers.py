"""NATS and PostgreSQL for a benchmark run: the ones named by NATS_URL / DATABASE_URL, else
embedded ones from devstack in a temporary directory, stopped afterwards."""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devstack.nats import NatsServer
from devstack.postgres import PostgresServer


@dataclass(frozen=True)
class Servers:
    nats_url: str
    postgres_url: str  # any database on the server; each run creates its own
    where: str  # "embedded" or "given" (from the environment), for the report


@contextlib.contextmanager
def servers() -> Iterator[Servers]:
    nats_url = os.environ.get("NATS_URL")
    postgres_url = os.environ.get("DATABASE_URL")
    where = "given" if nats_url and postgres_url else "embedded"
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        if not nats_url:
            nats_url = stack.enter_context(NatsServer(scratch / "nats")).url
        if not postgres_url:
            postgres_url = stack.enter_context(PostgresServer(scratch / "postgres" / "data")).url()
        yield Servers(nats_url, postgres_url, where)
