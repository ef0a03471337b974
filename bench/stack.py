"""All four services as `make run` starts them, for the end-to-end benchmarks.

Each service is its own process (`python -m <name>`) with its own database on one embedded
PostgreSQL, a NATS server that knows only the bus's users, an SMTP server and an HTTP sink
for SMS. The services are started and driven exactly as the e2e suite's are.
"""

import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from devstack.nats import NatsServer
from devstack.postgres import PostgresServer
from devstack.sinks import HttpSink, Sinks, SmtpSink
from opsctl.bus import write_bus_config
from tests.e2e.harness import Suite

BENCH_ENV = {"LOG_LEVEL": "INFO"}
"""As deployed: one INFO line per request and per event, so their cost is counted."""


@dataclass(frozen=True)
class Stack:
    suite: Suite
    postgres_url: str  # the server's; each service has its own database on it


@contextlib.asynccontextmanager
async def running_stack(extra_env: dict[str, str] | None = None) -> AsyncIterator[Stack]:
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-e2e-")))
        bus = write_bus_config(scratch / "bus")
        nats = stack.enter_context(NatsServer(scratch / "nats", config_file=bus.auth_file))
        postgres = stack.enter_context(PostgresServer(scratch / "postgres" / "data"))
        outbox = scratch / "outbox"
        outbox.mkdir()
        smtp = stack.enter_context(SmtpSink(outbox))
        http = stack.enter_context(HttpSink(outbox))
        suite = Suite(
            nats_url=nats.url,
            postgres_url=postgres.url(),
            sinks=Sinks(smtp=smtp, http=http, outbox_dir=outbox),
            work_dir=scratch / "suite",
            extra_env={**BENCH_ENV, **(extra_env or {})},
            bus=bus,
        )
        try:
            await suite.start()
            yield Stack(suite, postgres.url())
        finally:
            await suite.stop()
