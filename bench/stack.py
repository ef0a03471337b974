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

from counseling_shared.bus import BusCredentials
from counseling_shared.busauth import (
    JS_API,
    BusUser,
    inbox_prefix,
    new_seed,
    public_key_of,
    render_server_authorization,
)
from devstack.nats import NatsServer
from devstack.postgres import PostgresServer
from devstack.sinks import HttpSink, Sinks, SmtpSink
from opsctl.bus import bus_users, write_bus_config
from tests.e2e.harness import Suite

BENCH_ENV = {"LOG_LEVEL": "INFO"}
"""As deployed: one INFO line per request and per event, so their cost is counted."""

BENCH_USER = "bench"
"""The benchmarks' own NATS user, beside the services' and the operator's: the raw limits pull
from durables of their own and ack them, which no product user may do on another's stream."""
BENCH_PERMISSIONS = {
    "publish": {"allow": [f"{JS_API}.>", "$JS.ACK.>"]},
    "subscribe": {"allow": [f"{inbox_prefix(BENCH_USER)}.>"]},
}


@dataclass(frozen=True)
class Stack:
    suite: Suite
    postgres_url: str  # the server's; each service has its own database on it
    bench: BusCredentials  # the benchmarks' own NATS user (BENCH_PERMISSIONS)
    postgres_pid: int  # the postmaster; its backends are its children
    postgres_log: Path  # the server's log (statements, when `log_statement` is set)
    nats_pid: int


@contextlib.asynccontextmanager
async def running_stack(
    extra_env: dict[str, str] | None = None,
    postgres_settings: dict[str, str] | None = None,
) -> AsyncIterator[Stack]:
    """`postgres_settings` are given to the server at start (`-c`), beside devstack's."""
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-e2e-")))
        bus = write_bus_config(scratch / "bus")
        seed = new_seed()
        bench = BusCredentials(user=BENCH_USER, seed=seed)
        users = [*bus_users(bus.seeds), BusUser(BENCH_USER, public_key_of(seed), BENCH_PERMISSIONS)]
        bus.auth_file.write_text(render_server_authorization(users))
        nats = stack.enter_context(NatsServer(scratch / "nats", config_file=bus.auth_file))
        postgres = stack.enter_context(
            PostgresServer(scratch / "postgres" / "data", settings=postgres_settings)
        )
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
            assert postgres.pid is not None
            assert nats.pid is not None
            yield Stack(suite, postgres.url(), bench, postgres.pid, postgres.log_path, nats.pid)
        finally:
            await suite.stop()
