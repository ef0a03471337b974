"""The results as a table on the terminal and as docs/performance.md."""

import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.e2e import (
    BOOKING_TARGET,
    IN_FLIGHT,
    PACED_P99_TARGET,
    PACED_RATE,
    PACED_SECONDS,
    PAGE_INTERVAL,
    PAGE_P99_TARGET,
    EndToEnd,
    spread,
)
from bench.measure import Comparison

TARGET = 0.20  # each path at least 20 % of its raw limit


@dataclass(frozen=True)
class Machine:
    cpus: int
    memory_gib: float
    cpu_model: str
    python: str
    nats_server: str
    postgres: str
    servers: str
    repeat: int
    load: str = ""  # the load average when the run started (the machine is shared)

    @classmethod
    def describe(cls, *, nats_server: str, postgres: str, servers: str, repeat: int) -> "Machine":
        return cls(
            cpus=os.cpu_count() or 0,
            memory_gib=_meminfo_kib("MemTotal") / 1024 / 1024,
            cpu_model=_cpu_model(),
            python=platform.python_version(),
            nats_server=nats_server,
            postgres=postgres,
            servers=servers,
            repeat=repeat,
        )


def table(results: list[Comparison]) -> str:
    header = (
        "path",
        "events",
        "backbone ev/s",
        "raw ev/s",
        "share of raw",
        "every run's share",
        f"≥ {TARGET:.0%}",
        "one-at-a-time ev/s",
        "share of it",
    )
    rows = [
        (
            r.name,
            f"{r.backbone.events:,}",
            f"{r.backbone.per_second:,.0f}",
            f"{r.raw.per_second:,.0f}",
            f"{r.share:.0%}",
            ", ".join(f"{x:.0%}" for x in r.shares),
            "yes" if r.share >= TARGET else "NO",
            f"{r.serial.per_second:,.0f}",
            f"{r.serial_share:.0%}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def e2e_section(e2e: EndToEnd | None) -> str:
    if e2e is None or not e2e.runs:
        return "Not measured in this run (`--no-e2e`)."
    run = e2e.median_run
    share_ok = "yes" if run.share >= BOOKING_TARGET else "NO"
    paced_ok = "yes" if run.paced.percentile(99) < PACED_P99_TARGET else "NO"
    pages = e2e.pages
    page_ok = "yes" if pages.percentile(99) < PAGE_P99_TARGET else "NO"
    rows = [
        "| path | figure | limit in the same run | ratio: this run; median (range) of runs "
        "| target | met |",
        "|---|---|---|---|---|---|",
        f"| booking `POST /appointments`, {IN_FLIGHT} in flight | "
        f"{run.flat.per_second:,.0f}/s (p50 {_ms(run.flat.percentile(50))}, "
        f"p99 {_ms(run.flat.percentile(99))}; {run.flat.failed} failed) | "
        f"pgbench single-row inserts, {IN_FLIGHT} clients: {run.pgbench_tps:,.0f} tps | "
        f"{run.share:.1%}; {spread(e2e.shares)} | ≥ {BOOKING_TARGET:.0%} | {share_ok} |",
        f"| booking `POST /appointments`, paced at {PACED_RATE:.0f}/s | "
        f"{run.paced.per_second:,.0f}/s answered, p50 {_ms(run.paced.percentile(50))}, "
        f"p99 {_ms(run.paced.percentile(99))} ({run.paced.failed} failed) | | p99 of runs: "
        + ", ".join(_ms(x) for x in e2e.paced_p99s)
        + f" | p99 < {_ms(PACED_P99_TARGET)} | {paced_ok} |",
        f"| page: `POST /risk-flags` → SMS provider, idle, one every {PAGE_INTERVAL} s | "
        f"{len(pages.ok)} pages, p50 {_ms(pages.percentile(50))}, "
        f"p99 {_ms(pages.percentile(99))} ({pages.failed} missing) | | | "
        f"p99 < {_ms(PAGE_P99_TARGET)} | {page_ok} |",
    ]
    cpu = ", ".join(f"{r.cpu_ms_per_booking:.1f}" for r in e2e.runs)
    return "\n".join(rows) + (
        f"\n\nbooking's own CPU time per booking (user + system, from `/proc`), per run: "
        f"{cpu} ms. It depends on the machine's load much less than the rates do."
    )


def write_markdown(
    path: Path,
    results: list[Comparison],
    machine: Machine,
    events: int,
    e2e: EndToEnd | None = None,
) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    raw_methods = "\n".join(
        f"- **{r.name}** — raw limit: {r.raw_method}; one at a time: {r.serial_method}."
        for r in results
    )
    path.write_text(
        _TEMPLATE.format(
            when=when,
            table=table(results),
            events=events,
            raw_methods=raw_methods,
            m=machine,
            memory=f"{machine.memory_gib:.1f}",
            e2e=e2e_section(e2e),
            in_flight=IN_FLIGHT,
            rate=PACED_RATE,
            paced_seconds=PACED_SECONDS,
            page_interval=PAGE_INTERVAL,
        )
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _meminfo_kib(field: str) -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


_TEMPLATE = """\
# Performance

Written by `make bench` (`python bench/run.py`); every figure below is from the last run, and
each one stands beside the raw limit of the same work measured on the same servers in the
same run, so the ratio says what our code costs. Where a path was measured several times, the
run with the median ratio is shown (its figure and its limit from that one run), with every
run's ratio beside it.

## Last run: {when}

- Machine: {m.cpus} CPUs (`nproc`), {memory} GiB, {m.cpu_model}, Python {m.python};
  NATS {m.nats_server}, PostgreSQL {m.postgres} ({m.servers}, on the same machine).
- Load average (1, 5, 15 min) at the start: {m.load}. The machine is shared: other test
  suites were running, so absolute rates are lower and noisier than on an idle machine, and
  the ratios (both sides measured under the same load) are the figures to compare.

### End to end, all four services running

{e2e}

![Latency histograms of the median run](performance-latency.png)

![Each path beside its raw limit](performance-throughput.png)

The four services run as `make run` starts them (`python -m <service>`, one process each, a
NATS server that knows only the bus's users, one embedded PostgreSQL with a database per
service, an SMTP server and an SMS provider stand-in), logging at INFO. The load comes from
one Python process of httpx clients on the same machine, so it competes for the same CPUs.

- **booking, flat out**: {in_flight} requests in flight for the window; each books a fresh
  15-minute slot for one of 64 counselor/client pairs, with an `Idempotency-Key`, so no two
  requests race for the same aggregate. Every booking also makes notify ask booking's
  directory responder for the client's contact and send a confirmation, as in production.
- **pgbench**: the embedded PostgreSQL's own `pgbench`, {in_flight} clients, each transaction
  one single-row `INSERT` (uuid, timestamp, small jsonb) and its commit: the least a booking
  must write. It runs between booking's windows, on the same server.
- **booking, paced**: one request every 1/{rate:.0f} s for {paced_seconds:.0f} s, sent on time
  whatever the answers (open loop), so a queue shows in the latencies instead of hiding: where
  booking answers fewer than {rate:.0f} a second, the latencies are those of the queue.
- **page latency**: a high risk flag for a fresh client every {page_interval} s; the time from
  just before the accepted `POST /risk-flags` until the SMS provider stand-in recorded the
  on-call page (the file it writes; no polling in the timed window).

### The backbone, beside raw NATS and PostgreSQL

{table}

{events:,} events per measurement, {m.repeat} runs (each on a fresh database and stream).
The target is at least 20 % of the raw limit for each path. Runs this short move by tens of
percent from one run to the next (a short run can even put the relay above its "limit":
both sides wait for JetStream's acks, and each side's share of the CPU varies): read the
range, not one figure.
`make bench` uses 2,000 events so that the whole run stays under 10 minutes on this shared
machine (about 4 minutes at a load average of 14 to 17); `--events 20000` gives steadier
figures on a quiet machine.

{raw_methods}

The process is set up as a service's is: an OpenTelemetry SDK tracer provider records the
consumer's spans (no exporter), Prometheus metrics are counted. The relay commits the
envelopes to the outbox first (not timed), then `OutboxRelay.drain_once()` runs until every
row is published, acked by JetStream (file storage, 2 min duplicate window, `Nats-Msg-Id`)
and marked published. The consumer's envelopes are stored in the stream first (not timed);
then an `InboxConsumer` runs until every projection row is committed. The consumer's raw
limit is PostgreSQL's inserts alone: it leaves out the JetStream fetch and the acks that the
consumer must also do, so the consumer's share is a lower bound of its real efficiency.

## Where a booking's time goes (profile)

`python bench/profile_booking.py` runs the same stack, books flat out with {in_flight} in flight,
and samples booking's process with py-spy for 20 s; it writes
`docs/profile/booking-flamegraph.svg` (and the collapsed stacks, not committed) and sums the
samples by the part of the request they were in (idle waits left out; a socket write counts
for the library that wrote). `docs/profile/booking-flamegraph-before.svg` is the same
profile before the changes below. Both were taken on the shared machine (load average 5 to
14), with few samples (805 before, 490 after: the sampler itself slowed booking to about 10
to 30 bookings a second), so differences of a few points are noise:

| part | before | after |
|---|---|---|
| database driver (asyncpg), nearly all of it socket writes of statements | 50 % | 34 % |
| HTTP stack: uvicorn, starlette, FastAPI and the middleware chain | 21 % | 30 % |
| asyncio event loop itself | 16 % | 21 % |
| nats client (the relay and the directory responder) | 3 % | 8 % |
| booking's own code (handlers, domain, projections) | 4 % | 3 % |
| pydantic | 2 % | 1 % |
| logging (structlog, JSON) | 1 % | 1 % |
| idempotency, outbox, event store (our Python, not their SQL) | 2 % | 1 % |

The cost of a booking is round trips to PostgreSQL, not Python: each statement is a socket
write, a wake-up of the PostgreSQL backend and a wait, and while booking waits the
transaction is open (`pg_stat_activity` shows booking's connections `idle in transaction`,
waiting for the client, nearly all the time). A booking made 18 round trips: `BEGIN`, the
idempotency key's advisory lock, its look-up, the counselor, the client, the site (booking
horizon), the appointment stream's version check, a savepoint, the event insert, the
savepoint's release, a savepoint, the appointment row, its release, the outbox rows, the
NOTIFY, the idempotency record, `COMMIT`, and the pool's reset query on release. It now makes
13 (below).

## What was changed, measured

Measured as booking's own CPU time per booking (from `/proc`, which a loaded machine disturbs
far less than a rate), flat out, two windows each, the same stack before and after:

1. The pool returns a connection without asyncpg's reset query
   (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`): pooled connections keep no
   session state (advisory locks are transaction-scoped, settings are set with
   `set_config(…, true)`, LISTEN and session locks use connections of their own), and asyncpg
   still rolls back an open transaction before the connection is reused. One round trip less
   per request, in every service.
2. An event append is one statement: the stream's version check, the insert and
   `ON CONFLICT (stream_id, version) DO NOTHING` together, so a lost race inserts nothing and
   needs no savepoint (a longer append that loses takes back the rows it did insert). Four
   round trips become one, per stream written.
3. The outbox rows and their NOTIFY are one statement. One round trip less.

Together: 10.7 → 9.5 ms of booking CPU per booking (about 11 % less), and 9.1 → 8.1 ms of
notify CPU per booking (the same shared code serves its writes). Rates moved within the noise
of the shared machine.

## Not reached, and what is left

- Booking is far from 10 % of pgbench's single-row inserts, and the paced p99 is far from
  50 ms on this shared machine: booking runs at about 1 to 2 % of pgbench. What is left, in
  the order the profile points to:
  - the remaining round trips: the three reads before the decision (counselor, client, site)
    can be one query; the appointment row's savepoint can go (`ON CONFLICT DO NOTHING` also
    answers an exclusion constraint, and the overlap look-up then runs only when no row was
    written); the idempotency record and the outbox rows can be one statement;
  - the middleware chain (about a quarter of the samples): each of about ten ASGI
    middlewares wraps every request;
  - a `*_WORKERS` setting for several uvicorn processes per service, which only helps where
    there are spare cores (not here).
- Not built yet: page latency behind a 20,000-message backlog, the `SessionCompleted` →
  follow-up row pipeline in events/s, projection rebuild speed per service, and the
  scheduler's claim cost at 10k and 1M rows.
"""
