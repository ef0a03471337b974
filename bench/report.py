"""The results as a table on the terminal and as docs/performance.md."""

import os
import platform
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.backlog import BACKLOG, THROUGH_HANDLER
from bench.backlog import P99_TARGET as BACKLOG_P99_TARGET
from bench.claims import RATIO_TARGET, SMALL, ClaimCost, InServer, median_pages
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
from bench.pipeline import SESSIONS
from bench.rebuild import TARGET as REBUILD_TARGET

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
    if e2e.backlog is not None:
        b = e2e.backlog
        met = "yes" if b.pages.percentile(99) < BACKLOG_P99_TARGET else "NO"
        rows.append(
            f"| page behind a {b.queued:,}-message bulk backlog (FollowUpDue check-ins, queued "
            f"in notify's bulk lane) | {len(b.pages.ok)} pages, p50 "
            f"{_ms(b.pages.percentile(50))}, p99 {_ms(b.pages.percentile(99))} "
            f"({b.pages.failed} missing); backlog undelivered: {b.at_first_page:,} when the "
            f"first page was sent, {b.at_last_page:,} when the last page arrived (the lane "
            f"delivered {b.drained_per_second:,.0f}/s meanwhile; {b.failed} failed) | | | "
            f"p99 < {_ms(BACKLOG_P99_TARGET)}, pages not behind the bulk | {met} |"
        )
    if e2e.pipeline is not None:
        f = e2e.pipeline
        rows.append(
            f"| `SessionCompleted` on the bus → followup's scheduled check-in rows committed | "
            f"{f.followup.per_second:,.0f} events/s ({f.followup.events:,} in "
            f"{f.followup.seconds:.1f} s) | the consumer's raw limit on the same messages "
            f"(fetch, inserts, acks): {f.raw.per_second:,.0f}/s | {f.share:.1%} | none given | |"
        )
    cpu = ", ".join(f"{r.cpu_ms_per_booking:.1f}" for r in e2e.runs)
    return "\n".join(rows) + (
        f"\n\nbooking's own CPU time per booking (user + system, from `/proc`), per run: "
        f"{cpu} ms. It depends on the machine's load much less than the rates do."
        f"\n\n{cpu_budget(e2e)}"
    )


def cpu_budget(e2e: EndToEnd) -> str:
    """Where the machine's CPU went per booking, process by process, in each flat-out run."""
    runs = [r for r in e2e.runs if r.cpu_ms_by_process]
    if not runs:
        return ""
    names = list(runs[0].cpu_ms_by_process)
    columns = " | ".join(f"run {n}" for n in range(1, len(runs) + 1))
    header = f"| CPU per booking, flat out | {columns}"
    rows = [header + " |", "|---|" + "---|" * len(runs)]
    for name in names:
        values = " | ".join(f"{r.cpu_ms_by_process.get(name, 0.0):.1f} ms" for r in runs)
        rows.append(f"| {name} | {values} |")
    totals = " | ".join(f"**{sum(r.cpu_ms_by_process.values()):.1f} ms**" for r in runs)
    rows.append(f"| all of them | {totals} |")
    spent = [sum(r.cpu_ms_by_process.values()) for r in runs]
    target_rate = statistics.median(BOOKING_TARGET * r.pgbench_tps for r in runs)
    return (
        "\n".join(rows)
        + "\n\nWith every process on the same two cores, bookings a second cannot exceed "
        f"2,000 ms / (all of them): about {statistics.median(2000 / t for t in spent):,.0f} "
        f"here. Reaching {BOOKING_TARGET:.0%} of pgbench's single-row inserts (about "
        f"{target_rate:,.0f} a second) would need the whole suite to spend at most "
        f"{2000 / target_rate:.1f} ms per booking, against {statistics.median(spent):.1f} ms "
        "measured."
    )


def rebuild_section(e2e: EndToEnd | None) -> str:
    if e2e is None or not e2e.rebuilds:
        return "Not measured in this run (`--no-e2e`)."
    rows = [
        "| service | events in its store (streams) | rebuild | raw limit, same database "
        "| ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in e2e.rebuilds:
        rows.append(
            f"| {r.label} | {r.rebuild.events:,} ({r.streams:,}) | "
            f"{r.rebuild.per_second:,.0f} events/s ({r.rebuild.seconds:.2f} s) | "
            f"{r.raw.per_second:,.0f} events/s | {r.share:.1%} | "
            f"≥ {REBUILD_TARGET:,.0f} events/s | {'yes' if r.met else 'NO'} |"
        )
    return "\n".join(rows)


def claims_section(costs: list[ClaimCost] | None) -> str:
    if not costs:
        return "Not measured in this run (`--no-claims`)."
    large = f"{costs[0].large_rows:,}"
    rows = [
        f"| timer table (scheduler) | one claim in PostgreSQL, {SMALL:,} future rows: p50, p99 "
        f"(pages) | with {large}: p50, p99 (pages) | ratio of p50s | target | met "
        f"| round trip p50, {SMALL:,} and {large} (ratio) | index read |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in costs:
        rows.append(
            f"| {c.table} | {_in_server(c.server_small)} | {_in_server(c.server_large)} "
            f"| {c.ratio:.2f} | < {RATIO_TARGET} | {'yes' if c.met else 'NO'} "
            f"| {_ms2(statistics.median(c.small))}, {_ms2(statistics.median(c.large))} "
            f"({c.round_trip_ratio:.2f}) | `{c.index}` |"
        )
    return "\n".join(rows)


def _in_server(costs: list[InServer]) -> str:
    milliseconds = [cost.milliseconds / 1000 for cost in costs]
    return (
        f"{_ms3(statistics.median(milliseconds))}, {_ms3(_p99(milliseconds))} "
        f"({median_pages(costs)})"
    )


def _ms3(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def _ms2(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def write_markdown(
    path: Path,
    results: list[Comparison],
    machine: Machine,
    events: int,
    e2e: EndToEnd | None = None,
    claims: list[ClaimCost] | None = None,
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
            claims=claims_section(claims),
            rebuild=rebuild_section(e2e),
            in_flight=IN_FLIGHT,
            rate=PACED_RATE,
            paced_seconds=PACED_SECONDS,
            page_interval=PAGE_INTERVAL,
            backlog=BACKLOG,
            through_handler=THROUGH_HANDLER,
            sessions=SESSIONS,
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
- Load average (1, 5, 15 min) at the start: {m.load}. The machine may be shared (a
  1-minute load above 2 means other work was running): absolute rates then are lower and
  noisier than on an idle machine, and the ratios (both sides measured under the same load)
  are the figures to compare.

### End to end, all four services running

{e2e}

![Latency histograms of the median run](performance-latency.png)

![Each path beside its raw limit](performance-throughput.png)

The four services run as `make run` starts them (`python -m <service>`, one process each, a
NATS server that knows only the bus's users, one embedded PostgreSQL with a database per
service, an SMTP server and an SMS provider stand-in), logging at INFO. The load comes from
one Python process of aiohttp clients on the same machine, so it competes for the same CPUs
(the CPU table above counts it; it also relays the services' log lines).

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
  Where its tail comes from (2026-12-05, issue #12; the machine shared, load average 7 to
  18 throughout, so no round came near 50 ms on either side). In `make bench` the paced
  window follows the flat-out window and pgbench at once: notify is still sending the
  flat-out window's confirmations (a throwaway script repeating that sequence found 366 and
  626 pending when the second and third paced windows began, and p99 1.6 and 2.2 s in them
  against 52 ms in the first, with none pending; the load rose from 7.4 to 8.6 meanwhile,
  so not all of it is notify's). `bench.paced` waits until notify is idle before each round
  and does not show this. And its p99 is the third slowest of 300 requests: one pause of a
  few tens of milliseconds anywhere in the suite decides it. The garbage collector, timed in CPU
  (`time.thread_time`, which the neighbours' load does not inflate) in all four services at
  paced 100/s: with the start-up heap frozen (`GC_FREEZE_AFTER_START`), booking's young
  collections cost 0.3 ms each (about 9 a second), its middle ones 1.4 ms (one a second) and
  its full ones 8 to 11 ms (every 15 s or so); wall-clock pauses were many times
  longer at that load (up to 230 to 270 ms for a full collection while booking was hundreds
  of requests behind). Higher thresholds, now a setting (`GC_THRESHOLDS`, default CPython's
  `700,10,10`): `10000,10,10` cut booking's collector CPU from about 5 to 2 ms a second and
  its wall-clock pauses per 5 s round from 269 to 966 ms (median about 580; three runs of
  four rounds, alternating with `main`) to 52 to 383 ms (median about 155), but its longest
  pause grew to 24 ms of CPU (a middle collection over the in-flight requests' survivors),
  `3000,10,10` to 13 ms; the rounds' p99 (1.3 to 10 s here, 4.9 to 11.5 s on `main`) was the
  neighbours' queue on both sides. Not kept: a tail is made of the longest pauses, not their
  sum. Not measured apart, for lack of time: the relay and the directory responder in
  booking's event loop, the pool's waits, the commits' fsync (uvloop and httptools are on).
- **page latency**: a high risk flag for a fresh client every {page_interval} s; the time from
  just before the accepted `POST /risk-flags` until the SMS provider stand-in recorded the
  on-call page (the file it writes; no polling in the timed window).
- **page behind a bulk backlog** (`bench/backlog.py`): {backlog:,} FollowUpDue check-in
  messages to the clients of one site are queued in notify's bulk lane in one transaction on
  notify's database, so the whole backlog appears at once: the first
  {through_handler} by notify's own FollowUpDue handler (`handlers.on_followup_due`, called
  in the benchmark process), the rest as SQL copies of those (new ids, each with its requested
  event in notify's store, so deliveries are recorded as usual). The bus is skipped because
  queuing all of them through the handler alone takes about 100 s here, and through the
  consumer the lane would start draining long before the backlog was complete. Then pages
  are sent as above while the lane drains. How much of the backlog was still undelivered
  when the first page was sent and when the last one reached the SMS provider comes from the
  messages' own `sent_at` / `failed_at`, read afterwards: if pages waited behind bulk mail,
  the backlog would be nearly gone by the last page.
- **`SessionCompleted` → scheduled follow-up** (`bench/pipeline.py`): {sessions:,}
  `SessionCompleted` envelopes for fresh clients of one site followup already knows,
  published on booking's stream as booking's relay does (booking's NATS user, the event's
  subject, `Nats-Msg-Id`), all pipelined; from just before the first publish until followup
  has committed a scheduled first check-in for every one (counted on followup's database
  every 20 ms, so the end is known to 20 ms; followup also writes the client, its contact
  regularity and the events of each). Its limit: the consumer's raw limit (below) run on the
  same stored messages through a durable of its own, under the benchmarks' own NATS user.
  Since 2026-12-04 followup-care has a batch handler (`followup/entrypoints/care_batch.py`,
  issue #12): a fetched batch's client, session, no-show and closure events run through the
  per-message handlers unchanged, on a store (`adapters/batch_store.py`) that loads and locks
  everything they read in six statements and then writes every event in one `unnest` insert
  and each row statement once as an `executemany`; each event is published under the message
  that caused it (`UnitOfWork.caused_by`) in that message's own span (`inbox.message_span`).
  A test runs the same messages both ways and compares every table, event and outbox row.
  Measured old (main) and new alternately with this benchmark alone (one stack each, load
  2.2 to 2.8): 141, 140, 187 events/s before and 589, 488, 570 after (about 3.5 times),
  followup's CPU 3.55, 3.80, 2.90 ms an event before and 1.03, 0.99, 0.85 after. Still a
  tenth of the raw limit.
  Second round (2026-12-04), profiled first: `python -m bench.pipeline --profile` samples
  followup with py-spy while the sessions run (alone, rounds, each process's CPU per event
  from `/proc`). Of followup's samples (4,000 sessions, 64 a batch): the per-message handlers'
  own Python (deciding, the aggregates' events, the envelopes) about a third, the batch's
  events insert 11 % (asyncpg encoding one `jsonb` value per event), the other write
  statements 3 %, each message's span 6 %, its outbox rows 4 %, the load 3 %; the relay
  publishing the `FollowUpScheduled` events 5 %, the NATS client 7 %, the event loop 13 to
  18 %, decoding 2 %, the inbox claim 1 %, the fetch and the acks under 1 %. Timed inside the
  consumer (256 a batch), per event: handlers 346 µs, writes 257, load 57, commit 50, claim
  26, outbox rows 23, decoding 17, acks 3; while the writes ran, followup waited. So now:
  followup-care fetches 256 messages a batch (`Route.fetch`; the inbox's default stays 64);
  a run's writes are sent every 64 messages while the handlers go on with the next ones
  (`care_batch.CHUNK`: PostgreSQL writes one chunk while followup handles the next, the
  chunks in order, one at a time); the events' data and metadata go as two JSON arrays (one
  `json.dumps` each instead of one per value); a message's span is started without
  `start_as_current_span`'s layers and its trace headers are made once
  (`tracing.current_trace_headers` keeps the last context's); a client's open follow-ups are
  found by an index instead of a scan of the batch's. Tests: the same messages written in
  chunks of 1, 2 and 3 leave every table, event and outbox row of the one-by-one run, and each
  message's outbox and follow-up rows carry a span of that message's own trace. Measured old
  (main) and new alternately, one stack each, 4,000 sessions, load 4.6 to 6.0: 758, 670, 837,
  1,109, 908 events/s before and 768, 949, 1,288, 1,324, 970 after (each pair in favour of
  the new code, by 1 to 54 %); CPU per event, followup 0.46 to 0.50 ms before and 0.41 to
  0.45 after, PostgreSQL 0.30 to 0.32 and 0.26 to 0.28. With 2,000 sessions (three rounds
  each, three alternations, load 3.3 to 5.3) the rates overlap (733 to 1,081 before, 630 to
  1,772 after) while the CPU per event falls the same way (followup 0.42 to 0.47 ms before,
  0.36 to 0.44 after): on two shared cores the rate follows the neighbours more than the
  code. Still about a tenth of the raw limit, short of 20 %: what is left is mostly CPU, the
  per-message handlers' Python (each fresh client's session makes five events, two client
  rows, an envelope and a span), asyncpg encoding the rows, decoding, the relay and NATS.
  Not done: a fresh client's two `save_client` rows in one batch are both written; the next
  batch is not fetched before the commit.
  Third round (2026-12-04, issue #12, the reminders of booked appointments): profiled first
  (`bench/profile_booking.py --service followup`, flat out): of followup's samples, the event
  loop 45 % (uvloop's C under `Runner.run`: sockets and asyncpg's protocol, so round trips),
  asyncpg 28 %, followup's own Python 12 %, pydantic 5 %, the inbox and NATS 4 % each; each
  booking cost five statements of its own (the client's lock and row, the policy, one insert
  per reminder), as `AppointmentBooked`, `AppointmentRescheduled` and `AppointmentCancelled`
  still went one by one inside the batch. They now go through the batch store too: the
  sites and policies are read first in one statement, so the reminders' ids (derived from
  the appointment, the offset and the start) are loaded with the follow-ups (a move back to
  an earlier start finds its withdrawn reminders, as one by one does); a client's open
  follow-ups are loaded only where a handler withdraws some (sessions, closures, reschedules,
  cancellations), contact regularity only for sessions and closures. The first try loaded
  every client's open follow-ups: a client booked far ahead has hundreds of open reminders
  in the benchmark, and a batch then cost more of followup's CPU than one by one (measured
  in one process, batches of 16 bookings: 1.8 and 3.3 ms an event against 1.2 and 1.3). A
  run of one message goes through the per-message handler: alone, a booking costs five
  statements against a run's six, and PostgreSQL more for the run's `unnest` insert (in one
  process, batches of one: followup 1.5 to 1.6 ms an event batched, 1.3 one by one;
  PostgreSQL 1.2 to 1.9 and 0.9). Batches of 4: followup 0.6 to 0.75 ms against 1.0 to 1.25,
  PostgreSQL 0.6 to 0.8 against 0.6 to 0.7; of 16: 0.33 to 0.41 against 1.0 to 1.1,
  PostgreSQL 0.3 to 0.4 against 0.6. With the final code (load 5.6, three rounds): batches
  of 2, followup 0.68 to 0.89 ms against 0.85 to 1.07, PostgreSQL the same (0.55 to 0.68);
  of 3, 0.52 to 0.67 against 0.87 to 0.94. Tests: the comparison test's mixed batch now has
  bookings, reschedules and cancellations (a client registered in the batch, clients with
  other events in it and one with none, one first met in a booking at a site followup does
  not know, a paused one, a move back to a start planned before the batch) and checks which
  reminders were planned and withdrawn; a batch of appointment events costs seven statements
  for 3 clients as for 12. Measured main and this alternately (`python -m bench.paced --rate
  100 --rounds 3`, three pairs, load 9.9 to 14.5, so booking queued and followup's batches
  were large): followup's CPU per booking 1.0, 1.3, 1.3; 2.1, 1.1, 1.2; 1.2, 1.3, 1.2 ms
  before and 0.6, 0.6, 0.6; 0.6, 0.9, 0.7; 1.1, 1.0, 0.8 after (the one round of main that
  kept up, p50 21 ms, cost 2.1: with a few messages a fetch, most of a booking's cost is the
  fetch's own). `python -m bench.pipeline` (three pairs, load 8.5 to 11): followup 0.43 to
  0.51 ms an event before and 0.34 to 0.48 after, PostgreSQL 0.23 to 0.39 and 0.24 to 0.37,
  rates overlapping (341 to 1,293 and 300 to 1,604 events/s): no worse. The in-process
  figures above come from a throwaway script (load 12 to 17, two rounds each way). Left out:
  the clients' lock merged with the sites' read (one round trip fewer a batch) showed no
  difference in CPU there.

### Projection rebuild, per service

{rebuild}

Each service's own `rebuild_projections` (what `python -m <service> rebuild-projections` and
`counselctl rebuild` run), on its database in the running stack, over the event store the
benchmarks above filled (booking's from the bookings, followup's from the `SessionCompleted`
pipeline, notify's from the confirmations, crisis's from the pages and 400 flags paged,
escalated and answered for it: `bench.e2e.fill_crisis`), before the backlog is
queued; events/s is the store's events over the rebuild's time. Its raw limit, on the same
database right after: every event read in one query in stream order and one row per stream
written with asyncpg `executemany` into a temporary table, in one transaction (rolled back):
the least a rebuild does. A store of a few hundred events gives a rate dominated by the
rebuild's fixed costs (its lock, deletes and temporary tables): read the events column.
booking's rebuild compares a filled projection with the rebuilt rows and rewrites only the
appointments that differ (see "Seventh round" below), so its first row is a rebuild with
nothing to repair; its second row empties `appointments` and `slot_claims` first and times
the same rebuild writing every row again, as after a lost or emptied projection.

The rebuilds read each stream with a query of its own; they now read each kind's events with
one query through a cursor (`eventstore.read_streams`). Measured on followup's rebuild, one
store of 4,001 events (1,000 sessions through the pipeline), the old and the new code run
alternately in one process on the shared machine (load average 13 to 15): 10.7 s and 8.8 s
before, 5.8 s and 4.3 s after, about twice as fast.

Each kind is now folded in memory and written in batches: the write path's own save
functions write into a recorder (`counseling_shared.batched_writes.RecordedWrites`) instead
of the connection, and every 2,000 aggregates, and at the end of each kind (so a kind's rows
exist before the next kind's rows reference them), each distinct statement runs once as an
asyncpg `executemany`, in the order the statements were first seen, in the same transaction
under the same lock. The save functions stay the one place each table's SQL is written; the
regrouping keeps their result because every save writes only its own aggregate's rows and
reads nothing (each rebuild's docstring says why for its saves; reads are refused by the
recorder); crisis's timer reconciliation has a batched twin (`timers.follow_all`, since replaced by
`timers.follow_rebuilt`). The
schedulers are woken once per channel at the end instead of once per timer. Tests rebuild
many aggregates of every kind in batches of two and compare every table with the live rows
(`tests/*/integration/test_rebuild_batches.py`; running the statements in the wrong order
or dropping a kind's last batch makes them fail).

Measured with `python -m bench.rebuild_ab` (2026-12-04, shared machine, load average 3.7 to
6.0): stores filled through the running services, dumped, restored on a server of their own,
and rebuilt by the main branch's code and this code alternately, three times each. Events/s,
old then new: booking (4,456 appointments booked through its API, 1,115 cancelled; 6,006
events) 906, 854, 724 and 1,841, 3,442, 3,043, and on a second store (3,509 booked, every
one rescheduled, 878 cancelled; 8,052 events) 2,804, 981, 2,321 and 4,597, 4,940, 9,068;
followup (3,000 sessions; 23,204 events) 1,133, 1,459, 763 and 2,822, 3,475, 3,234; notify
(the bookings' and pages' notifications; 18,544 events) 1,267, 1,479, 1,441 and 2,128,
4,222, 5,145; crisis (300 risk flags paged; 1,801 events) 2,097, 1,815, 1,469 and 6,487,
5,445, 1,767. CPU per 1,000 events (this process folding plus the PostgreSQL backend
writing), steadier than the rates: booking about 590 ms before and 160 ms after (on the
second store 350 to 450 and 115 to 145); followup 430 and 160; notify 410 and 160; crisis
490 and 180: a rebuild costs about a third of the CPU it did, and two to four times fewer
seconds.

Still below 20,000 events/s. About half of a rebuild's time is now its batched writes
(booking 1.0 to 1.2 s of 1.7 s, followup 1.5 to 1.7 s of 4.0 to 4.4 s, notify 1.1 to 1.2 s
of 2.4 to 2.7 s), 60 to 110 µs per row, and the rest the read and the fold (decoding each
stored event into its domain event, the aggregates' `evolve`, building the rows), 50 to 100
µs of Python per event; the two run one after the other on one connection. One `INSERT ...
SELECT FROM unnest(...)` instead of `executemany`, tried on the same rows, saved only 20 to
30 % (followups 68 to 70 µs a row down to 45 to 62; appointments, with three exclusion
constraints and four other indexes, 114 to 127 down to 92 to 98); loading an index-free copy
of the table and building its indexes and constraints afterwards (a rebuild into new tables,
swapped in at the end) did better on appointments (132 to 177 µs a row down to 49 to 66) but
not much on followups (82 to 91 down to 50 to 64). At 20,000 events/s a rebuild has 50 µs
per event for everything, so both the writes and the fold must become several times cheaper:
batching alone does not get there.

Since then (2026-12-04, second round): a cheaper fold, fewer rows for followup, and the
writes overlapped with the fold. Profiled with py-spy on the restored stores, the fold's
time went to `dataclasses.replace` in the aggregates' `evolve` (15 to 33 % of the fold's
samples: every field walked and set again through the frozen `__init__`), to `json.loads` of
each event's data and metadata (about a sixth of the process's samples, in asyncpg's
protocol callback), to the validation of each event, and for followup to the OpenTelemetry
propagators and a timer payload computed per row only to be thrown away. Now: `read_streams`
selects the JSON as text and parses it with pydantic-core's parser (about 2.4 times faster
than `json.loads`, the same values; a test compares them on floats, big integers and
escapes), and booking's, followup's and notify's rebuilds do not read the metadata at all;
the hot aggregates (appointment, notification, follow-up, client care, alert) evolve through
`counseling_shared.fast_replace.replace`, which copies the state's `__dict__` (5.5 times
faster on a follow-up; it goes through `dataclasses.replace` for any class with a
`__post_init__`, an `InitVar`, a `ClassVar`, slots or an `__init__` of its own, so a check
in `__post_init__` still runs); followup saves a follow-up and a regularity row once, from
the stream's final state, instead of after each recorded transaction (their upserts set
every column a later event changes, so the row is the same; 14,476 follow-up upserts instead
of 23,188 on the store below, 1.8 to 2.1 s of writes instead of 3.1 to 3.7 s), with no trace
headers per row (the kept ones are put back at the end, as before); notify writes each
notification's final row in one insert (`notification_store.save_replayed`) instead of the
write path's insert of the requested row then update to the final one. And a batch is
written while the next is folded: `Batches` writes in a task and `read_streams` takes it as
a gate, so the cursor fetches only when no batch is on the connection, and a full batch
starts right after a fetch, while what was fetched is folded (about a batch's worth of
events per fetch).

Measured on the stores above (8,052, 24,775 and 23,850 events), restored on a server of
their own, the main branch (a worktree of its own, its own process) and this code (before
notify's one insert and the fold's turns of the event loop, below) alternately, three times
each, load average 4.5 to 7.2 (events/s, old then new): booking 2,122, 1,421, 4,874 and
2,997, 6,562, 2,783; followup 2,708, 3,722, 3,070 and 2,102, 4,621, 4,378; notify 2,875,
3,345, 2,447 and 5,344, 4,676, 5,658. The rates move by two or three times from run to run
at that load; CPU per 1,000 events moves less: this process (the fold) booking 65 to 71 ms
before and 40 to 50 after, followup 80 to 99 and 54 to 59, notify 78 to 84 and 51 to 59,
about a third less; the PostgreSQL backend unchanged for booking (94 to 96, 89 to 91) and
notify (90 to 104, 82 to 97), followup 86 to 107 and 73 to 78 (the fewer upserts). On the
first stores (6,006, 23,204, 18,544 and 1,801 events; load 3.6 to 5.3): booking 4,422,
4,138, 3,556 and 6,383, 5,468, 3,482; followup 2,834, 4,385, 4,044 and 6,028, 5,285, 5,695;
notify 4,982, 8,279, 7,059 and 6,081, 6,033, 8,644; crisis 2,669, 1,237, 2,140 and 5,157,
3,238, 3,676; fold CPU booking 63 to 70 and 48 to 58, followup 81 to 88 and 49 to 60, notify
60 to 73 and 43 to 54, crisis 88 to 113 and 68 to 88. Notify's one insert per notification,
measured alone afterwards (the code before it and with it, alternately, load 5.7 to 7.1):
PostgreSQL's CPU per 1,000 events 90 to 92 ms before and 53 to 62 after on the 23,850 events
(3,404, 4,064, 2,355 and 4,358, 4,548, 5,060 events/s), 95 to 98 and 44 to 66 on the 18,544
(1,898, 2,713, 1,855 and 9,975, 4,921, 8,333 events/s): about 40 % less. The overlap alone,
at first (this code with each batch written when full and the fold waiting for it,
alternately with the overlap, load 3.3 to 4.8 and again at 2.2 to 2.5), did not show:
booking 1.09, 1.31, 0.95 s without and 1.47, 0.97, 1.22 s with; followup 4.15, 3.74, 4.21
and 3.59, 8.66, 3.43; notify 3.73, 4.74, 3.60 and 5.38, 3.63, 7.82. The write task did not
move while the fold ran: the fold's awaits never wait, so the event loop got no turn
(asyncpg sends a batch and reads its answers only in the loop) until the next fetch waited
for the write. The fold now gives the loop a turn every 16 aggregates while a batch is being
written (a test fails without it). Then (load 1.8 to 2.0): followup 3.20, 2.71, 2.59 s
without and 2.59, 2.32, 2.14 s with; notify 1.88, 2.44, 2.46 and 1.80, 1.98, 2.12; booking
1.21, 0.84, 1.23 and 1.21, 1.13, 1.32 (its 3,510 appointments are under two batches: little
to overlap). A test writes on the reader's connection between fetches; the batches' tests
fail if a batch is written before a fetch is done, or two at once.

All of it together, on a quiet machine (load average 0.7 to 1.2, 14:50 to 14:55 UTC), the
main branch after this round's other merges (its own worktree and process) and this branch
alternately, three times each, events/s: booking 6,054, 7,378, 7,159 and 9,001, 10,393,
10,601 (the first store of 6,006 events: 4,924, 5,353, 6,179 and 5,729, 5,981, 5,275);
followup 6,132, 6,280, 5,844 and 12,912, 9,854, 12,426 (the first: 7,200, 6,516, 6,576 and
11,159, 10,834, 10,673); notify 7,177, 6,188, 6,442 and 12,382, 11,079, 10,188 (the first:
6,872, 8,132, 5,312 and 11,634, 11,394, 11,542); crisis's stores (121 and 1,801 events)
about the same. CPU per 1,000 events, fold then PostgreSQL: booking 52 to 74 and 84 to 99 ms
before, 31 to 37 and 67 to 78 after; followup 80 to 85 and 89 to 102, 46 to 56 and 62 to 80;
notify 79 to 80 and 75 to 93, 43 to 59 and 55 to 64.

Still below 20,000 events/s (about 10,000 to 13,000 for followup and notify, 5,000 to 10,000
for booking): 30 to 60 µs of Python and 55 to 80 µs of PostgreSQL per event. Not built, what
is left: a rebuild into new tables without indexes, swapped in at the end, for booking's
appointments and notify's notifications (most of PostgreSQL's share; it changes what readers
see meanwhile: today booking's TRUNCATE makes readers wait for the rebuild, followup's and
notify's DELETE lets them read the old rows until the commit); COPY
(`copy_records_to_table`) where a statement is a plain insert into a table the rebuild
emptied (notify's `save_replayed` now is; the write path's saves are upserts), which needs
the recorder to know the table and columns of such a save; and a reader on a second
connection in the same snapshot, so that fetching does not wait for the writes either.

Third round (2026-12-04, 15:00 to 15:15 UTC): followup and notify no longer end with an
`UPDATE` of every row to put back the columns no event holds (followup's trace headers,
notify's claims and trace headers). The rebuild reads them before it deletes the rows (only
the rows that have any: `SELECT id, trace_headers::text ... WHERE trace_headers IS NOT
NULL`, notify's also where a claim is held) into a dict by id, and each row's insert writes
them: `PostgresFollowupStore(kept_traces=...)` and `notification_store.save_replayed(...,
claimed_until=..., trace_headers_json=...)`. The trace headers stay the JSON text read
(`$n::text::jsonb` in the statements; the write path binds `json.dumps` of the current
trace, what the jsonb codec did): decoding and encoding them again cost about 6 µs a row,
which at first took back in the fold most of what the UPDATE's removal saved. Timed alone
on the restored stores (load 1.6 to 1.8): the read 27 to 28 ms for 14,476 follow-ups (one
slow run 106) and 20 to 22 ms for 7,938 notifications, where the temporary table and the UPDATE
took 264 to 320 ms and 145 to 164 ms (more inside a rebuild, whose UPDATE meets the rows it
just inserted: 0.4 to 0.5 s of followup's, timed before). Tests: a rebuild inside a test's
transaction updates no row of `followups` or `notifications` (`pg_stat_xact_user_tables`;
6 rows updated before), and the kept claim and trace reach the recorded insert.

Measured with the main branch (its own worktree and process) and this code alternately
(a throwaway A/B script, not kept), events/s old then new, CPU per 1,000 events fold / PostgreSQL:
notify on 23,850 events (load 1.3 to 1.6), four times each: 11,190, 13,994, 12,569, 11,361
and 16,716, 14,512, 13,720, 13,205; PostgreSQL 52 to 60 ms before, 36 to 50 after, the fold
38 to 53 and 39 to 49. On 18,544 events (load 2.6 to 2.7): 8,202, 4,834, 8,181 and 10,912,
9,232, 10,609; PostgreSQL 54 to 67 and 51 to 53. Followup on 24,775 events (load 1.7 to
2.4): 9,048, 7,909, 3,683, 7,768 and 11,108, 9,409, 7,205, 12,757; PostgreSQL 68 to 81 and
46 to 62, the fold 52 to 65 and 50 to 71. On 23,204 events (load 2.5 to 2.8): 8,169, 12,754,
9,102 and 11,840, 8,427, 11,604; PostgreSQL 53 to 66 and 44 to 62. With the kept traces
decoded and encoded again (the first version, load 1.3 to 1.7), followup was not faster
(10,358, 13,406, 11,215, 12,256 and 10,351, 9,328, 11,441, 10,129: the fold 39 to 59 ms and
55 to 84). PostgreSQL's CPU per event is a tenth to a quarter less for both; the rates move
by a third from run to run at these loads.

Not built in this round: COPY for notify's insert (`copy_records_to_table` uses the binary
COPY format, and the services' jsonb codec is text-only: asyncpg refuses it with "no binary
format encoder for type jsonb", MagicStack/asyncpg#604; `params` and `trace_headers` are
jsonb, so it needs a binary jsonb codec, a 0x01 byte before the JSON text, on the connection
that writes). Profiled with py-spy on the 24,775 and 23,850 events (this code, 250 samples/s;
the profiles were not kept): in followup's process `UUID(str)` is 12 % of the samples (the
identifiers of each event's data in `followup.from_record`, and each stream id), the
dataclasses' generated `__init__` 9 %, asyncpg encoding the batches 10 %; in notify's, each
event's pydantic validation 11 %, the batches' encoding 20 %, the attempts' columns built in
`save_replayed` 9 %.

Fourth round (2026-12-04, 16:25 to 17:00 UTC; stores filled by `python -m bench.rebuild_ab
--dump --booking-seconds 60`: booking 12,101 events, followup 41,578, notify 36,801, crisis
1,801). booking's rebuild truncates its tables, so readers already wait for its commit; it
now drops their secondary indexes and exclusion constraints after the TRUNCATE and creates
them again before the commit, each built once from the finished table
(`counseling_shared.rebuild_indexes`; the definitions are read from `pg_indexes.indexdef` and
`pg_get_constraintdef` at rebuild time, so the migrations stay their only source; primary
keys and unique indexes stay, the upserts need them). Adding the six exclusion constraints
back (three on `appointments`, three on `slot_claims`) takes 0.45 to 1.1 s of the rebuild and
cannot overlap the fold, but still costs less than keeping them row by row (PostgreSQL 71 to
74 ms per 1,000 events with them dropped too, 79 to 88 with only the plain indexes dropped).
followup's and notify's rebuilds DELETE so that readers keep the old rows until the commit;
`DROP INDEX` takes an ACCESS EXCLUSIVE lock, which would make readers wait (and fail after
the services' 5 s `lock_timeout`), so they keep their indexes; tried on notify anyway, it
saved nothing measurable (PostgreSQL 21 to 25 ms per 1,000 events either way). The fold:
notify and booking validate each stored event's JSON text in one pass
(`eventstore.read_streams_json`, pydantic's `validate_json`) instead of parsing it into a dict
and validating that; followup parses the ids in its events with pydantic-core
(`counseling_shared.stored_ids.parse_uuid`, five times faster than `UUID(text)`, which it falls
back to for any text not in the canonical form: a test compares values and errors); a
replayed `RecordedEvent` gets its fields as one dict instead of through the frozen
dataclass's `__init__` (3 µs an event); `RecordedWrites` looks for a wake only in a statement
new to the batch (it copied each statement's text to strip it); followup's rebuild upserts
follow-ups without the CTE the write path wraps around them to send its NOTIFY. Main (its
own process) and this branch alternately, three rounds of two runs each, load average 2.8 to
3.3, events/s and CPU per 1,000 events (fold / PostgreSQL): booking 6,352 to 12,424 (median
10,397) and 11,559 to 13,589 (12,557), 26 to 34 / 67 to 73 ms and 23 to 25 / 59 to 70;
followup 13,092 to 26,400 (18,440) and 19,900 to 28,921 (26,985), 28 to 31 / 24 to 26 and 23
to 27 / 23 to 25; notify 18,203 to 26,289 (23,223) and 14,793 to 31,379 (24,746), 25 to 29 /
20 to 23 and 19 to 23 / 20 to 22. Two more rounds (load 2.6 to 3.0): booking 9,932 to
11,939 and 11,159 to 14,617, fold 29 to 36 / 70 to 76 ms and 22 to 23 / 57 to 59; crisis,
which shares the replayed events and the recorder, 7,398 to 12,592 and 9,698 to 14,698 on
its 1,801 events (no worse). At this load followup and notify pass 20,000 events/s in
most runs on these stores (as main did in some); booking stays near 12,000: its rows per
event are many (8,060 appointments and 7,482 slot claims for 12,101 events) and its
exclusion constraints are checked for every row whichever way they are built. Not done:
COPY (still the binary jsonb codec it needs) and a rebuild into index-free tables swapped in
at the end for followup and notify (it touches every foreign key, grant and prepared
statement that names the tables, for a PostgreSQL share that is now about half of the
rebuild's CPU).

Crisis (2026-12-04, 18:40 to 19:05 UTC). `make bench` rebuilt crisis over the pages' 122
events (0.03 s: fixed costs only); before timing the rebuilds it now fills crisis's store as a
day of pages would (`bench.e2e.fill_crisis`, also what `bench.rebuild_ab --flags` does): 400
flags posted eight at a time at a site whose first level times out after a second, each alert
escalated once (its second level waits 6 hours), half of them acknowledged and a quarter
resolved through crisis's API, about 4,300 events. It adds about 40 s to `make bench` (load 5
to 6: 19 s registering the 400 clients through booking, 8 s flagging, 7 s until every alert
escalated, 6 s answering and until notify is idle); notify's store grows by the pages'
notifications. The rebuild: alerts are folded before flags, so each flag's row is inserted
with its alert (`flags.write_replayed`) instead of inserted then linked; each page is inserted
once with its final delivery instants (`alerts.project_replayed`: the alert's pages fold
`PageSent`/`PageFailed` as the live `coalesce` updates do) instead of inserted then updated per
delivery; an alert's timeline steps are one `INSERT ... SELECT FROM unnest(...)`, their
details taken from each event's stored JSON (`alerts.stored_details`; a unit test compares
them with the write path's for every kind of event) instead of `str()` of every id again; the
timers are reconciled by two statements over the rebuilt `alerts` rows
(`timers.follow_rebuilt`, replacing the `executemany` of `follow_all`'s per-alert `UPDATE ...
FOR UPDATE SKIP LOCKED`: the rows are the rebuild's own), and the schedulers are woken once
with the earliest deadline (one set to wake sooner stays asleep); the deletes of the old rows
are the first batch's first statements and the timers' statements go with the flags' first
batch, both written while aggregates are folded; batches of 100 aggregates, each kind fetched
a little over a batch at a time (a dozen events an alert, one a flag), so that every batch is
written while the next is folded (before, 2,000 aggregates a batch held all of crisis's
alerts: nothing overlapped). Measured on that store (4,301 events: 400 alerts, 800 pages,
1,600 deliveries, 400 escalations; 200 timers scheduled, 200 cancelled, 400 fired) restored
on a server of its own, main (its own worktree and process) and this branch alternately, one
rebuild per process, five rounds, load average 3.5 to 4.8: main 5,424 to 15,396 events/s
(median 8,343), CPU per 1,000 events fold 28 to 30 / PostgreSQL 35 to 42 ms; this branch
10,329 to 19,187 (median 15,233), 23 to 26 / 23 to 26 ms. Five rebuilds per process after a
first (three rounds, load 3.9 to 4.9): main 8,393 to 16,805 events/s, 28.1 to 31.4 / 33.9 to
37.7 ms; this branch 13,031 to 23,071, 22.2 to 25.1 / 25.6 to 26.0 ms. On the older store of
600 flags paged only (3,601 events; load 3.6 to 4.7): main 11,000, 15,942, 15,921 and this
branch 11,428, 21,068, 17,320 events/s, 26 to 30 / 31 to 33 and 23 to 26 / 25 to 28 ms. The
rebuilt rows equal the live ones on both stores (every projection table compared). What stops
20,000 events/s at this load: with other runs on both cores the fold and the backend do not
overlap, and the rebuild's wall time is about their CPU added up, 46 to 52 ms per 1,000 events;
the fixed costs are now 10 to 30 ms (lock, temporary table, the streams' count, commit). On a
quiet machine the two should overlap, about 25 to 30 µs an event (not measured: the machine
never went below a load of 3.5 meanwhile). What is left per event: asyncpg encoding the
batches (about 30 % of the process's samples), pydantic validating each event (11 %), reading
(11 %), the fold itself (8 %); in PostgreSQL, the foreign key checked for each timeline step
and page, the alerts' five indexes, the deletes' checks of the three tables that reference
`alerts`. Tried and dropped: the pages by `unnest` too (no gain: fold 24.2 to 25.0 and
PostgreSQL 24.2 to 26.0 ms against 23.2 to 23.8 and 22.8 to 24.6); 50 or 250 aggregates a
batch instead of 100 (no difference beyond the noise); counting the streams with a regular
expression in SQL (42 to 47 ms, against 2 ms for fetching them); COPY (no binary jsonb
encoder); upserting the alerts instead of deleting them (a drifted row could break
`alerts_one_active_per_client` halfway through). `bench.rebuild_ab --baseline` cannot load
main's crisis rebuild any more (it calls `timers.follow_all`): compare worktrees instead.

Fifth round, booking only (2026-12-04, 18:40 to 19:15 UTC, on the fourth round's store of
12,101 events; shared machine, load average 2.7 to 6.4). Appointments and their slot claims
now go in by binary COPY: the rebuild saves an appointment with
`projections.save_replayed_appointment` (the row, and its claim only while it is booked: the
write path deletes a cancelled one's, which cost 578 no-op DELETEs), and `RecordedWrites`
records a save's `copy_records_to_table` as one COPY per table and columns, at the place a
statement would have run. A plain insert is what the upsert did: each appointment is saved
once, from its final state, into a truncated table (a second save would fail on the primary
key). jsonb (the goals) goes in PostgreSQL's binary format on the rebuild's connection
meanwhile (`db.binary_jsonb`; the services' text codec is back afterwards, a test checks
both; MagicStack/asyncpg#604). The foreign keys from the rebuilt tables to tables the
transaction holds locked are dropped too and added again at the end, one join each
(`rebuild_indexes`, `foreign_keys=True`): each inserted appointment looked up and locked its
site, client, counselor and room row, 50 to 72 µs a row with the keys, 14 to 24 without; by
COPY, 12. Indexes and keys are dropped only on the tables of kinds with 100 streams or more
(dropping and adding a dozen indexes and 25 keys of nearly empty tables cost 30 to 75 ms).
What is left of PostgreSQL's share is the exclusion constraints: each booked appointment is
checked by six (three on `appointments`, three on `slot_claims`), 8 to 10 µs each however
they are built (timed alone on the 7,482 claims: adding the counselor's or the client's
constraint 75 to 88 ms of CPU, of which the GiST build 9 to 16, the rest one index probe per
row; the rows' order changed nothing; inserting with the constraint in place cost about the
same), 0.4 s of this rebuild. Added again after the fold, they run while this process waits
(PostgreSQL's CPU 94 ms during the fold and 404 to 408 ms after it); kept, they are checked
as each batch is copied, while the next batch is folded (461 to 521 ms during, 18 to 21
after), for the same CPU (40 to 45 ms per 1,000 events either way), so the rebuild now keeps
them. Timed in one process on the restored store, alternately: with no other process waiting
for the CPU meanwhile (run-queue wait under 20 ms, `/proc/<pid>/schedstat`), kept 0.59 to
0.70 s (17,213 to 20,351 events/s), dropped 0.73 to 0.79 s; at load 3 to 4 both 0.8 to 2 s.
The main branch (its own process) and this branch alternately, three rounds of two runs
(`bench.rebuild_ab --from-dump`, load 3.4 to 4.9): 7,226 to 12,586 events/s (median 11,636)
and 13,100 to 16,534 (13,996); CPU per 1,000 events, fold / PostgreSQL, 26 to 28 / 63 to 74
ms and 18 to 27 / 46 to 50; three more rounds at load 4.7 to 6.0, where the rates no longer
tell them apart: 5,974 to 10,731 (median 8,679) and 6,663 to 12,502 (8,251), 26 to 28 / 62
to 66 ms and 19 to 26 / 47 to 51. Tried and not kept: a kind's first fetches small (256
events, doubling) with every fetch followed by a write of whatever was folded, so that
PostgreSQL starts writing before a whole batch is folded: a timeline of the fetches and
writes showed its 90 ms idle at the start of the appointments gone, but the rebuild was not
measurably faster at load 3.4 to 5.2 (24 runs each, alternately; in the last 15, median
10,500 events/s with it, 10,900 without) and PostgreSQL spent 1 to 2 ms more per 1,000
events. PostgreSQL's CPU for this store is now 0.5 s whatever the fold does (24,000 events/s
at best); 20,000 is reached only on an otherwise idle machine, in some runs.

Sixth round, fixed costs (2026-12-04, 19:40 to 20:05 UTC). A store like `make bench`'s:
`python -m bench.rebuild_ab --dump DIR --booking-seconds 20` (3,603 appointments booked,
2,269 of them rescheduled: 6,406 events; crisis 3,992 events), and a copy with each
appointment's later events removed, one event a stream as in `make bench` (4,137 events: 3,603
appointments, 464 clients, 66 staff, 2 rooms, 2 sites). A timeline of one rebuild of the
latter (each connection call's wall time, `python -m bench.rebuild_timeline` on the main
branch's code, load 2.0, 313 ms): the first
statements 17 ms (TRUNCATE 5.6, the streams' count 1.6, the catalog 4.5, then the drops, one
statement each), the small kinds 20 ms, then the appointments folded with PostgreSQL idle (62
ms: at 2,000 aggregates a batch, a kind of fewer than 4,000 events is one fetch and one batch,
written at the kind's end), then their COPY (90 ms) and their claims' (78 ms) with this
process idle, the indexes and keys added again 11 ms, and COMMIT 34 ms (24 to 37 ms in other
runs, crisis's too: the WAL's fsync on a shared disk). Now: the rebuild's first statements
are one simple query (`SET LOCAL synchronous_commit = off`, the lock, TRUNCATE; crisis's
lock and temporary table likewise), and its commit does not wait for the WAL to reach the
disk (1.8 to 7 ms): a crash just after it loses the whole rebuild or nothing, and the next
write committed after it flushes the WAL past the rebuild's commit record
(`db.REBUILD_COMMIT`); `rebuild_indexes` reads the catalog in one query and sends the drops,
then the creates, as one statement each; no cursor is opened for a kind with no stream
(6 of booking's 11 here); booking's batches are 250 aggregates (about 500 events a fetch), so
the first COPY starts at 62 ms instead of 96 and the copies run back to back while the rest
is folded (253 to 351 ms in four instrumented runs on the same store, load 1.7 to 2.0;
main's two: 313 and 381); the cyclic garbage collector
is paused during a rebuild (`gc_paused`: a full collection walks the whole process, 38 to 40
ms in a fresh process, more in a process with a bigger heap such as `make bench`'s); crisis
encodes each timeline step's details with pydantic-core (0.35 µs instead of 2.3). Measured
(main's worktree and this branch alternately, one rebuild per fresh process as `make bench`
runs it; a throwaway script, not kept), ms, old then new: at load 1.8 to 2.0, the 4,137 events 284,
259, 252 and 263, 270, 235; the 6,406 events 296, 293, 266 and 231, 229, 245; crisis 148,
150, 153 and 146, 149, 153; at load 2.6 to 3.6 (the final code): 275, 455, 266 and 281, 244,
253; 286, 277, 555 and 242, 259, 444; crisis 171, 184, 195 and 188, 214, 576; at load 4.4
to 4.8 the rates do not tell them apart. CPU per 1,000 events is unchanged for booking (fold
19 to 22, PostgreSQL 39 to 48 ms) and crisis's fold a little lower (19 to 24 against 21 to
27; 1 to 3 ms in most runs); with half a million objects alive in the process (a
benchmark process's heap), the
fold's CPU is 34 to 40 ms before and 19 to 22 after (booking, 336 to 1,016 ms and 235 to
572), crisis's 22 to 24 and 19 to 20. What is left for booking is PostgreSQL's: on this store
its CPU is 170 to 190 ms, and the fixed costs about 30 ms of the 250. Its six exclusion
constraints are most of it: the same store with `appointments`' three dropped (a copy of the
database, not the schema: `slot_claims`' three already hold every booked appointment's
counselor, room and client slot, if every writer keeps a claim beside each booked
appointment) took 27 to 36 ms of PostgreSQL's CPU per 1,000 events instead of 44 to 46, and
173 to 224 ms (18,500 to 23,900 events/s) instead of 251 to 342. That is a schema decision,
not taken here. Crisis: 19 to 22 ms of fold and 20 to 25 of PostgreSQL per 1,000 events;
what is left is asyncpg encoding the batches, each event's validation and the fold itself.
Not told apart by the rates: batches of 2,000 against 250 at load 1.6 to 2.7 (kept for the
overlap the timeline shows; the machine's other load hides it). Not done: writing a small
kind's last batch while the next kind's first events are fetched (booking's sites, staff,
rooms and clients take about 30 ms one after the other; a batch spanning two kinds keeps
their order only while no later kind reuses an earlier kind's statement).

Seventh round, booking (2026-12-04, 23:00 to 23:45 UTC). A store like `make bench`'s: `python -m
bench.rebuild_ab --dump DIR --booking-seconds 20` (2,796 appointments booked by
`bench.booking_load`'s 64 counselor/client pairs), each appointment's later events removed and
every appointment stream copied a day later: 5,736 events, 5,592 online appointments, all
booked, about 87 per counselor and per client (as in `make bench`, whose store had 5,636). A
timeline of main's rebuild on it (load 1.2 to 2.7, 370 to 480 ms): 15 ms before the first fetch,
then 285 ms of copies (appointments 150, their claims 135) back to back, PostgreSQL busy
throughout and the fold (120 ms of CPU) hidden behind them, then 12 ms adding the indexes and
keys again and 1 to 26 ms of commit. A copy of 250 appointments took 8.5 ms at first and 17 ms
at the end: the four exclusion constraints an online appointment meets (counselor and client, on
both tables) cost about 10 µs a row each (the 5,592 claims by `INSERT ... SELECT`: 118 to 152 ms
with their two, 11 to 24 without; adding one to the filled table 56 ms, its GiST build 11 to 23
of them), and a probe reads every entry of its counselor or client in the leaf it lands on
(`perf` on the backend: `detoast_attr` of each entry's range 19 % of the samples, `gistScanPage`
11 %, `range_deserialize` 6 %), so the cost grows with the appointments per counselor and
client. Built differently, it is not cheaper: PostgreSQL 18 already sorts these GiST builds
(`gist_uuid_ops` and `range_ops` have sortsupport), a sorted build ignores `fillfactor` (10, 30
and 90 gave the same index and 53 to 69 ms), the range first took 98 to 100 ms, `buffering = on`
75 to 91, and copying in counselor or start order instead of id order changed nothing. Changed:
when `appointments` holds at least half as many rows as the store has appointment streams, it
and `slot_claims` are locked as before (ACCESS EXCLUSIVE: readers wait for the commit) but not
truncated. The rebuilt rows are copied into temporary twins (no index, no constraint), and after
the appointments the rows that differ in any column, or exist on one side only, are deleted,
then the rebuilt ones inserted (`booking.adapters.appointment_twins`; deletes first, so two rows
that conflict only halfway, one leaving a slot the other takes, never meet; holds' claims are
written again by their saves). The exclusion constraints check only what is written. `make
bench` rebuilds over the rows the services wrote, so its figure is now this case (nothing to
repair), not that of a rebuild into empty tables. The first 250 appointments decide: if most
differ from their rows (a new column, a changed rule), both tables are emptied, the twins' rows
moved in and the rest copied straight in, as before. Tests: the batched rebuild runs three times
over one store, as written, drifted (two appointments in each other's slots, one deleted with a
stray hold's claim in its slot, a stray appointment, other goals, a longer claim) and with
appointments emptied, and equals the live rows each time; a filled projection with one drifted
row deletes and inserts one row, with most drifted all of them (`pg_stat_xact_user_tables`); a
double booking fails the rebuild either way. Comparing ids only, inserting before deleting,
keeping stray rows, never or always emptying, and never comparing each fail one. Main and this
branch alternately, one rebuild per fresh process (a throwaway script, not kept): the rows as
written, nine rounds at load 1.8 to 2.5, main 357 to 459 ms (median 369, 15,545 events/s), this
branch 177 to 229 ms (median 187, 30,674 events/s), CPU per 1,000 events fold / PostgreSQL 21 to
28 / 49 to 54 ms and 21 to 24 / 10.5 to 12.2; nine more at load 3.5 to 5.0: 353 to 1,088 and 171
to 589 ms, PostgreSQL 47 to 58 and 10.5 to 16. A tenth of the appointments drifted (load 2.1):
353 to 411 and 197 to 254 ms. Every one drifted: at load 2.6 to 3.0, 344 to 413 and 375 to 455
ms, PostgreSQL 47 to 51 and 51 to 65 (the first batch's twin, the decision and the move); at 4.5
to 5.1, 471 to 583 and 408 to 559 ms, PostgreSQL 51 to 52 either way. Appointments emptied (the
same path; load 2.3 and 4.2 to 4.6): 357 to 477 and 367 to 480 ms, PostgreSQL 49 to 52 either
way. The untrimmed store (6,435 events, every appointment moved a week later and a quarter
cancelled): 176 to 199 and 137 to 140 ms. What is left on rows as written is this process, about
120 ms of CPU (each event's pydantic validation a fifth of the fold, the twins' COPY encoding a
quarter of the process's samples), with PostgreSQL mostly waiting, and about 50 ms of fixed
costs (the catalog, the drops, TRUNCATE of the other tables, adding the indexes and keys again,
the comparison, 10 ms). A rebuild that rewrites most rows still meets the exclusion constraints
for each (four for an online appointment; 0.35 to 0.45 s here); dropping `appointments`' three
stays a schema decision. Not done: keeping the two compared tables' plain indexes instead of
dropping and building them again (about 8 ms here; their foreign keys must go while the tables
they reference are truncated).

Measured, not done (2026-12-05, 00:00 to 00:35 UTC): dropping `appointments`' three exclusion
constraints, which `slot_claims`' duplicate as long as every writer keeps each booked
appointment's claim beside it (a migration on a branch of its own; `tests/booking` passed
after one assertion naming the dropped constraint was moved to `slot_claims`'). The rebuild
into emptied tables, on the store above restored twice (one copy each way), 14 rounds
alternately, load 0.4 to 0.9: 15,916 to 17,503 events/s (median 17,055) with them and 20,496
to 25,872 (24,054) without, PostgreSQL 47.1 against 27.9 ms per 1,000 events (medians), the
fold unchanged; over rows already right, no difference (nothing is written). Per booking
(`bench.pg_time`, three runs each, load 1.7 to 3.4): booking's insert 546, 555, 502 against
495, 487, 422 µs and 498 bytes of WAL less; the suite's PostgreSQL CPU per booking at paced
100/s (`bench.paced`, six rounds each, load 3 to 5) 5.0 to 5.3 ms either way. Kept: they are
the database's own refusal of two booked appointments that overlap, whatever a writer does
with the claim, and the gain is a rebuild from empty tables (after a lost projection), not a
booking. What came of it: `claims.unmirrored` (one query, 2 ms on 5,592 booked appointments)
lists booked appointments whose claim is missing, extra or different; every booking
integration module ends by checking it, and a test spoils the mirror five ways.

Measured, not done (2026-12-05, 01:40 to 02:10 UTC; a store filled by `python -m
bench.rebuild_ab --dump DIR --services booking`: 7,970 events, 7,232 appointments, 7,173
booked): two ways to keep the database's refusal and pay fewer probes. PostgreSQL 18 builds
both GiST indexes sorted (`gist_uuid_ops` and `range_ops` have sort support): 14 ms for the
counselor's index over the 7,173 rows, where adding the constraint takes 72 to 80 ms, so the
probes, about 9 µs a row, are the cost, and the rebuild with them dropped and added again
(`indexes_built_after(..., exclusions=True)`) ran 15,242 to 15,520 events/s against 16,349 to
17,273 keeping them (three runs each, alternately). A query that finds every overlap at once
(each row's start against the latest end before it, per counselor) takes 4 ms, but a constraint
cannot be added without its per-row check (an exclusion constraint has no `NOT VALID`). The
other way: `appointments`' three constraints replaced by a deferred foreign key from each
booked appointment to its claim, same site, counselor, room, client and span (two generated
columns and a seven-column unique index on `slot_claims`), so a booked appointment exists only
with an identical claim and `slot_claims`' constraints keep booked appointments apart. Timed in
SQL on the same rows (both tables emptied, then filled by `INSERT ... SELECT`, four rounds
alternately): 427 to 444 ms now, 291 to 320 with the key (its check included), about what
dropping the three constraints saves in the rebuild; that would put the rebuild into emptied
tables near 20,500 events/s, at the price of a schema change on the booking path for a rebuild
after a lost projection. Not built.

Measured again, not done (2026-12-05, 11:20 to 11:40 UTC; `bench.rebuild_ab`'s store of 08:38:
10,731 events, 4,532 appointments, 3,399 booked; each rebuild in a fresh process on a fresh
copy with `appointments` and `slot_claims` emptied, main's worktree and the branch
alternately): the pg_restore way, the six exclusion constraints dropped after the TRUNCATE and
added again from `pg_get_constraintdef` before the commit (`indexes_built_after(...,
exclusions=True)`; a double booking then fails at the ADD and the rebuild rolls back).
PostgreSQL's CPU per 1,000 events, medians of three series of 6, 6 and 8 runs: 16.3, 19.0 and
20.3 ms keeping them, 18.1, 21.1 and 21.4 dropping all six (17.2 dropping only `appointments`'
three; 21.1 with `SET LOCAL maintenance_work_mem = '512MB'`: the sorted GiST builds of 3,399
rows fit in the default 64 MB); the fold 1 ms less, the sum unchanged or higher; events/s mean
nothing at load 7 to 18 (medians 12,648 against 13,682, 6,330 against 6,939, 5,060 against
4,539). In SQL alone (both tables refilled by `INSERT ... SELECT` in a rolled-back transaction,
six rounds alternately): 120 to 130 ms of backend CPU with the constraints in place, 140 to 160
dropped and added again (10 to 30 ms of inserts, then 120 to 130 ms of ADD after the fold,
which nothing overlaps). Per constraint, the GiST index alone takes 6 ms and the constraint 30
to 32 (the client's and the counselor's; the room constraints 1 ms, few claims have a room):
the probes, one per row at about 7 µs, are the cost, and the ADD pays them as the inserts did.
A test now also puts a double booking into a rebuild into emptied tables.

Seventh round, followup only (2026-12-04, 23:00 to 23:40 UTC). A store like `make bench`'s:
`python -m bench.rebuild_ab --dump DIR --booking-seconds 30 --sessions 2000` with its 6,450
`FollowUpWithdrawn` events removed (18,443 events in 16,443 streams: 12,356 follow-ups of one
event, 2,084 clients of two, 2,000 regularity streams; `make bench`'s had 18,489 in 16,489),
each run on a fresh copy of the database (`CREATE DATABASE ... TEMPLATE`: rebuilt once, as `make
bench` does). Main's rebuild on it took 0.86 to 1.08 s, as in `make bench`. Its timeline
(`bench.rebuild_timeline`, load 1.7, 896 ms): the kept traces 17 ms, the seven deletes 38, the
stream ids 6; the clients folded with PostgreSQL idle (35 ms), then written with this process
idle (50); the follow-ups' first fetch and fold with PostgreSQL idle (135); then their upserts,
180, 174 and 128 ms back to back (40 µs a row, the fold long done: PostgreSQL was the critical
path); the regularity rows last, this process idle (30). Now: a follow-up, a regularity row and
a client are each saved once, from the stream's final state, by binary COPY into the emptied
tables (`save_replayed_followup`, `save_replayed_regularity`, `save_replayed_client`; 12 µs a
follow-up row instead of 40), the client's preferences row stamped with the time of the last
transaction that changed them (the write path's upsert keeps the row's time while they stay the
same: the batch test fails on the first or the last transaction's time instead); the kept trace
headers go into the COPY as the JSON text read (`db.JsonText`, which `binary_jsonb` sends as it
is; a test checks that a plain string is still encoded); the old rows' deletes are the first
batch's first statements; batches of 500 aggregates, which may span two kinds (no kind's rows
reference another's); the first statements are one simple query with `synchronous_commit` off,
the collector is paused, the streams are counted per kind in SQL (4 ms); each kind's events come
along the (stream_id, version) index (`random_page_cost` 1.1 in the rebuild's transaction: the
plan was a sequential scan and a sort spilled to disk, 24 ms before the follow-ups' first row
with this process idle, 4 ms now); `Planned` and `FollowUp` are made by
`fast_replace.constructor`, which sets the new instance's `__dict__` whole (0.54 and 1.05 µs
instead of 1.29 and 2.39; a unit test compares it with the class for positions, keywords,
defaults and errors). Measured (main's code and each step alternately, one rebuild per fresh
process on a fresh copy, four rounds, load 2.0 to 2.4), ms and CPU per 1,000 events fold /
PostgreSQL: main 860 to 973 (18,958 to 21,439 events/s), 22.7 to 23.3 / 25.5 to 29.3; COPY and
the fixed costs 467 to 621, 19.3 to 20.2 / 11.4 to 11.9; the constructors 539 to 570, 17.4 to
17.8 / 11.4 to 11.9; the clients once 466 to 541, 17.0 to 17.9 / 10.3; the index read 523 to 553
(one run 1,143 with its CPU as the others'), 17.3 to 18.6 / 10.3 to 10.8. At load 1.2 to 1.8 the
final code took 364 to 393 ms (about 48,000 events/s) in 13 of 17 runs (the others 492 to 637),
its process's CPU, 320 ms, the critical path (PostgreSQL's 180 to 190). With half a million
objects alive in the process (a benchmark's heap; five pairs at load 4.4 to 4.8, `make bench`'s
conditions): main 949 to 1,054 ms (17,493 to 19,429 events/s, under the target in every run),
this code 534 to 612 (30,136 to 34,534); 24.8 to 26.2 / 26.0 to 26.6 and 17.3 to 17.9 / 9.8 to
10.3. On the whole store (24,893 events, load 4.5 to 5.0): main 760 to 2,207 ms, this code 473
to 1,427; 19.6 to 22.3 / 18.1 to 20.9 and 14.6 to 16.5 / 7.6 to 8.8. In a running stack after a
fill (23,023 events, `log_lock_waits` on: no lock wait over 100 ms), five rounds at load 7.0 to
7.4: main 1,085 to 2,830 ms (8,134 to 21,222 events/s), this code 580 to 1,460 (15,765 to
39,676); 22.7 to 28.2 / 20.8 to 23.0 and 14.6 to 17.2 / 8.3 to 10.0. On a second fill (28,205
events; this branch's final code, load 5.1 to 5.3): main 985 to 1,314 ms (21,467 to 28,645
events/s), this code 568 to 681 (41,391 to 49,697); 21.9 to 24.2 / 18.1 to 20.2 and 13.3 to 17.9
/ 7.4 to 8.5. Not told apart by the rates: the index read alone (six pairs at load 3.5 to 4.2,
395 to 454 ms without it, 407 to 503 with; kept for the timeline's 20 ms of idle gone) and
batches of 250, 1,000 or 2,000 aggregates against 500 (load 1.2 to 1.4). Tried and not kept:
asyncpg's own UUID (`pgproto.UUID`, a `uuid.UUID`) from `stored_ids.parse_uuid`, fold 16.0 to
16.4 ms per 1,000 events against 16.7 to 18.1 (four pairs, load 1.4 to 1.5), about 1 µs an
event, but `parse_uuid` promises a plain `uuid.UUID` to every service. What is left is this
process's CPU, 16 to 18 ms per 1,000 events (py-spy: reading and decoding the events 15 % of the
samples, asyncpg encoding and sending the COPY 14 %, the follow-ups' decoding and fold 15 %,
their rows 8 %), with PostgreSQL's 8 to 11 beside it; at a load of 7, where the two no longer
overlap and wait their turn, it still falls under 20,000 events/s in some runs.

Why notify's and crisis's rebuilds fell below 20,000 events/s (2026-12-05, 08:35 to 09:10 UTC;
`make bench`: notify 26,889 events/s at 02:29, 19,483 and 17,490 at 07:25 and 07:45; crisis
22,149, 18,740 and 16,922). The stores were not the cause: 19,154 events in 6,510 streams at 02:29,
17,984 in 6,134 at 07:45 (notify), 4,047 and 4,005 in 843 (crisis), the same events per stream.
A store filled by main's code (`python -m bench.rebuild_ab --dump DIR --booking-seconds 30
--sessions 2000 --flags 400`: notify 35,012 events, crisis 3,906 in 801 streams), less notify's
16 streams holding a `DeliveryDeferred` (a kind c08637b cannot read): 34,948 events, 11,781
notifications. c08637b's schema was made by its own migrations and given the same rows (main's
additions undone on a copy: notify's eight `notifications` columns and three checks, crisis's
four `alerts` columns, an index, the timers' round and kind). A worktree of c08637b with its own
venv, main's, alternately, each run one rebuild in a fresh process on a fresh copy of the
database (`CREATE DATABASE ... TEMPLATE`), CPU per 1,000 events fold / PostgreSQL (medians).
notify, eight rounds at load 5.3 to 12.9: c08637b 1,719 to 5,842 ms (median 2,371), 24.7 /
23.3; main 1,748 to 8,299 (3,590), 27.6 / 27.1; c08637b's code on main's schema 25.0 / 27.0.
Main costs about 14 % more CPU per event: PostgreSQL's share comes from the table's eight new
columns (each notification's insert, an `executemany`, started an executor per row: about 11 µs
a row more), the fold's from the code (a `Notification` of eight more fields, 32 values a row
instead of 24). crisis, ten rounds at load 8.4 to 11: c08637b 230 to 1,045 ms (median 611), 28.9
/ 31.4; main 190 to 1,215 (750), 27.5 / 33.0: no measurable difference per event. The rest of
the fall is the machine: the same code moved three to six times from run to run here (main's
notify 4,211 to 19,993 events/s), and a rebuild of 0.2 s (crisis's) moves by 60 ms with
anything else running. And notify's rebuild was the only one that kept the cyclic collector
running: with half a million objects alive in the process (a benchmark's heap, as in `make
bench`), main's fold took 30.1 to 35.4 ms per 1,000 events (median 31.9) instead of 24.3 to 31.7
(27.6). Now notify's
rebuild copies each notification's row and its attempts by binary COPY
(`notification_store.save_replayed`, `db.binary_jsonb`; the kept trace headers as `JsonText`),
runs its first statements as one simple query with `REBUILD_COMMIT`, deletes the old rows in
the first batch, counts its streams in SQL and pauses the collector (`gc_paused`), as
followup's does; crisis's copies each alert's row (the upsert's columns and values: a unit test
compares them), its timeline steps and pages, and each flag's row. Measured the same way: notify
on the 34,948 events, eight rounds at load 9.6 to 16.4: main 2,481 to 7,871 ms (median 4,515,
7,747 events/s), 26.9 / 27.8; this branch 1,885 to 4,460 (3,035, 11,662 events/s), 17.5 /
11.8; c08637b 1,989 to 7,727 (3,951), 25.4 / 23.6. With a benchmark's heap (five rounds, load
10.2 to 13.7): main median 6,502 ms, 31.9 / 28.9; this branch 3,541, 18.9 / 12.4; c08637b
7,965, 30.5 / 24.3. On a store of `make bench`'s size (its first 6,134 notification streams,
18,202 events) with that heap, six rounds at load 6.3 to 11.2: main 1,228 to 2,149 ms (median
1,409, 13,020 events/s), 33.5 / 28.6; this branch 443 to 1,068 (700, 26,015 events/s), 18.2 /
12.1; c08637b 879 to 1,640 (1,398), 30.2 / 25.0: half the CPU per event of either. crisis, ten
rounds at load 11.7 to 16.6: main 354 to 1,879 ms (median 1,119), 34.2 / 38.9; this branch 617
to 1,568 (854), 32.4 / 30.2 (PostgreSQL lower in every round). Again at load 5.5 to 8.0
(09:15 UTC, no added heap): notify on the store of `make bench`'s size, six rounds, main 1,003
to 2,826 ms (median 1,430, 12,727 events/s), 24.7 / 26.6, this branch 551 to 1,221 (727, 25,145
events/s), 17.6 / 11.6; crisis, eight rounds, main 402 to 676 ms (563, 6,952 events/s), 26.2 /
30.8, this branch 266 to 459 (332, 11,960 events/s), 23.7 / 24.6. The rebuilt rows equal the
live ones (the rebuild tests compare every table). What is left for notify is this process's fold,
17 to 19 ms per 1,000 events (each event's pydantic validation about half of its samples), with
PostgreSQL's 12 beside it; crisis's, about 30 ms each of fold and PostgreSQL at these loads (not
profiled further). At these loads neither passes 20,000 events/s in every run. A timeline of
notify's rebuild now on the store of `make bench`'s size (`bench.rebuild_timeline`, load 8.4,
534 and 624 ms): its `DELETE FROM notifications` takes 86 to 125 ms, of which the foreign key
from `notification_attempts`, checked row by row though the attempts were deleted just before,
59 to 86 (`EXPLAIN ANALYZE`: 10 to 14 µs a row); a full batch's two copies 70 to 100 ms. Not done:
dropping that key during the rebuild (ACCESS EXCLUSIVE: readers would wait, which the DELETE
is there to avoid), or comparing the rows and writing only those that differ, as booking's
rebuild does.

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
limit does what the consumer must do, with none of our code: a durable of its own on the same
stored messages, a nats-py pull fetch of the same batch size, each message's JSON decoded into
its row, the inbox and projection rows inserted with asyncpg `executemany` in one transaction
per batch, then each message acked (timed from the first fetch to the last ack). What the
consumer does beyond it (envelope validation with pydantic, its tracing span, metrics, dead
letters, the redelivery bookkeeping) is what the ratio measures.

Since 2026-12-05 every durable is pinned to one replica at a time (docs/reliability.md, "One
replica per durable"): the consumer's figure is now also the ceiling of one durable, however
many replicas run. Pinning costs the consumer process little or nothing (within the noise)
and nats-server a few µs per event: main's code and the pinned code alternately on the same
servers, 4,000 events each, 14 and 13 runs, load average 7.7 to 11.3, medians of CPU µs per
event (this process / PostgreSQL / nats-server): per-event handler 212 / 71 / 25 before,
210 / 70 / 32.5 after; batch handler 76 / 22.5 / 17.5 before, 82.5 / 22.5 / 22.5 after
(ranges overlap; nats-server adds the pin id to every message it delivers). The rates moved
within their noise (medians 765 and 944 events/s per-event, 2,230 and 2,250 batched). The raw
baseline's durable has no priority group (a nats-py pull on a pinned durable is refused).

### The schedulers' claim, with 10,000 and with 1,000,000 rows not yet due

{claims}

`python -m bench.claims` (also run by `make bench`): the statement each scheduler runs to take
the next due row (followup's and crisis's `DueScheduler` claim, `claim_statement` in
`counseling_shared.scheduler`; notify's lane worker, `notification_store.claim`), in a
database of the service's own schema holding 20 due rows and either 10,000 or 1,000,000 rows
due later, inserted by `generate_series` in SQL (ordered ids, foreign keys of the crisis
timers unchecked: the rows they reference play no part in a claim) and analysed. The claims
alternate between the two databases, so both sizes see the same load; each runs in a
transaction rolled back afterwards (not timed), so each claim takes the same due row. The
claim reads the partial index on the due time and stops at the first row, so its cost should
not grow with the rows that are not due.

Two figures per claim, and the target judges the first. **In PostgreSQL**: the claim's
statement with the arguments the scheduler sends, run 300 times a size (alternating, each
rolled back) under `EXPLAIN (ANALYZE, BUFFERS)`: planning and execution time, and the pages
(shared buffers) it touched. **Round trip**: 1,000 claims a size timed in the benchmark's
process, as the scheduler sees them. Until 2026-12-04 only the round trip was measured, and
its ratio moved from 0.77 to 2.2 between runs of the same code on a quiet machine, failing
the target in some. Measured that day with 1,000 round trips a size (load 0.3 to 0.8), the
round trips fall into two modes, about 0.07 and 0.13 ms, at either size (followup: p10 0.08
and 0.07 ms, p25 0.08 and 0.12, p50 0.13 and 0.13; crisis: p25 0.12 and 0.07): the wake-ups
of two processes on two cores that were idle a moment before (on a busy machine the slow mode
disappears: 0.05 ms at both sizes). The median of the round trips says which mode won more
often; PostgreSQL's own time does not have the two modes (followup 0.058 to 0.065 ms at 10,000
rows and 0.059 to 0.060 at 1,000,000 in two runs; crisis 0.041 to 0.044 and 0.042 to 0.048),
and the pages show why the claim cannot grow much: one more page at 1,000,000 rows (the
B-tree's extra level) for followup and crisis. notify's claim touches more pages (33 and 40:
it also updates the row's lease and joins the recipient's facts; where its 7 more pages at
1,000,000 rows come from is not looked into) and costs the same time at both sizes.

notify's webhook worker is measured the same way (its two rows, since 2026-12-05): pending
webhook deliveries queued for 50 subscriptions, of which 20 have a due head (a subscription's
oldest pending delivery, the only one ever attempted) and every other delivery waits behind a
head. Its claim takes the due heads; its next due time is the statement it runs on every idle
look. Both used to find the heads with a `DISTINCT ON (subscription_id)` over every pending
delivery, reading all of them (index and table: 87,000 pages at 100,000 pending); they now take
each active subscription's head with one probe of `webhook_deliveries_queue` (a `LATERAL ...
LIMIT 1`), no migration needed. Measured on 2026-12-05 with the old and the new statement
alternately on the same databases (`EXPLAIN ANALYZE`, 15 runs each, load average 1 to 6):
next due time 5.6 to 9.3 ms (old) and 0.30 to 0.35 ms (new) at 10,000 pending, 71 to 93 ms
and 0.44 ms at 100,000; claim 13 to 14 ms and 0.56 to 0.64 ms at 10,000, 70 to 93 ms and 0.72
to 0.75 ms at 100,000. In `bench.claims` (100 explained a size) the new claim costs 0.40 and
0.42 ms at 10,000 and 100,000 (ratio 1.03, 251 and 307 pages), 0.46 and 0.48 at 1,000,000
(1.04); the next due time 0.20 and 0.21 ms (1.05), 0.21 and 0.23 at 1,000,000 (1.09). Their
cost now grows with the active subscriptions instead, about 1 µs each: with 5,000
subscriptions and 100,000 pending, 7.4 ms (next due time) and 7.9 ms (claim), against 26 and
23 ms before.

## Where a booking's time goes

### Round trips, in every database

Every statement is a round trip: a socket write, a wake-up of a PostgreSQL backend, CPU in both
processes and, inside a transaction, time the transaction stays open. `python -m
bench.statements 20` makes 20 bookings one after another with PostgreSQL logging every
statement, and counts them by database (with what the bookings set off: confirmations,
reminders, the relays, and the idle workers' and schedulers' once-a-second looks, which weigh
more one booking at a time than under load):

| database | before this round (2026-12-04, 03:00) | after |
|---|---|---|
| booking | 24.8 | 20.0 |
| notify | 50.0 | 28.8 |
| followup | 24.8 | 15.8 |
| crisis | 5.6 | 4.8 |
| all four | 105 | 69 |

(Counted with the same script on both commits, three seconds after the last booking. booking's
figure now includes the audit entry written for each directory answer, new in this round.)

The next round (2026-12-04, 09:35 and 10:03, same script, 20 bookings): booking 19.4 → 16.6,
followup 18.9 → 17.3, notify 30.8 → 28.9, crisis 4.9 → 4.8. One booking at a time shows only
the statements merged; the audit entries and an inbox batch's outbox rows, now written
together, are saved only under load, where many requests or messages share one statement.

The round after (2026-12-04, 14:27 and 14:28, same script, 20 bookings, load average 4.4 to
5.0): booking 16.5 → 15.4 (the idempotency look-up before the transaction is gone), followup
18.1 → 14.8 (a new reminder's look-up, events and row are one statement), crisis 4.4 → 3.2
and notify 33.9 → 28.6 (neither changed: their idle looks vary from run to run); all four
72.8 → 62.1.

### The profile

`python bench/profile_booking.py` runs the same stack, books flat out with {in_flight} in
flight, and samples booking's process with py-spy for 20 s; it writes
`docs/profile/booking-flamegraph.svg` and sums the samples by the part of the request they
were in (idle waits left out; a socket write counts for the library that wrote).
`docs/profile/booking-flamegraph-before.svg` is the profile before this round's changes.
Shares, booking's process only:

| part | first profile | before this round | after this round |
|---|---|---|---|
| database driver (asyncpg) | 50 % | 34 % | 49 % |
| HTTP stack: uvicorn, starlette, FastAPI and the middleware chain | 21 % | 30 % | 25 % |
| event loop (asyncio; uvloop after) | 16 % | 21 % | 8 % |
| nats client (the relay and the directory responder) | 3 % | 8 % | 2 % |
| booking's own code (handlers, domain, projections) | 4 % | 3 % | 6 % |
| pydantic | 2 % | 1 % | 3 % |
| logging (structlog, JSON) | 1 % | 1 % | 2 % |
| idempotency, outbox, event store (our Python, not their SQL) | 2 % | 1 % | 3 % |

The after-profile ran at 81 bookings a second on a quiet machine (the earlier ones at 10 to
30 on a loaded one). The event loop's share fell with uvloop, and the HTTP stack's with
httptools and the changes below; what remains is mostly asyncpg's statements, which is why
the round trips above are the measure that matters.

In the next round's profiles (py-spy, 20 s flat out, load average 4 to 8, before at 75
bookings a second, after at 57) asyncpg's share of booking's samples fell from 46 % to 39 %
(the HTTP stack's rose from 28 % to 30 %, the event loop's from 10 % to 15 %). The largest
single statement left is the idempotency middleware's look-up before the transaction,
through the pool (8 % of booking's samples, its pool acquire and release included); the
OpenTelemetry middleware's route look-up for the span name, which tries every route in turn,
is 3 %. followup's samples are mostly its event loop and asyncpg (57 % and 30 %).

The round after (2026-12-04, 13:49 to 14:10, load average 5 to 8.5): before it, at 46
bookings a second, the idempotency look-up before the transaction was 6.3 % of booking's
samples and the span name's route look-up 3.5 %; after it, at 86 a second, neither is
there, and asyncpg is 43 %, the HTTP stack 30 %, the event loop 9 %, booking's own code 6 %,
the nats client 3.5 % and pydantic 3 %. `python bench/profile_booking.py --service followup`
samples followup instead while booking runs flat out: 58 % of its samples are uvloop's loop
with no Python frame above it, mostly waiting (followup used about a sixth of a core; py-spy
cannot tell uvloop's wait from its work), and of the rest nearly all is the inbox consumer
handling `AppointmentBooked`: planning the reminders 17 % of all samples (each a look-up of
the follow-up, the event append and the row), learning the client 7 % (its lock and read).

### Where PostgreSQL's time goes

`python -m bench.pg_time` starts the same stack with PostgreSQL loading `pg_stat_statements`
(planning tracked; a setting for the benchmark only, `running_stack(postgres_settings=…)`:
`make run` and the tests start the server as before), sets up, warms up, resets the
statistics, measures 10 s with nothing booked, then books at 100 a second for 20 s and keeps the
window open until notify has sent every confirmation. Per database it prints commits
(`pg_stat_database`), statements and their time (planning + execution), the top statements with
their calls, mean, rows and WAL, the CPU of that database's backends from `/proc` (each
backend's pid mapped through `pg_stat_activity`), and the server's other processes and WAL.
Statement time is wall time inside the backend (waiting for a lock, for I/O, for the commit's
WAL flush, or for a core counts too), not CPU; what the backends' CPU does not show in
statements is the work of each round trip that no statement is charged with (the protocol,
bind, starting and ending transactions, the commit's flush).

Three runs on `main`'s services (2026-12-04, 21:25 to 21:47, alternating with the change
below; load average 7 to 15 from other work on the machine, so every figure is two to three
times a quiet machine's: `make bench`'s flat-out table above gives PostgreSQL 2.3 to 2.6 ms),
medians per booking:

| database | commits | statements | statements' time | backends' CPU | CPU not in statements |
|---|---|---|---|---|---|
| booking | 3.20 | 8.5 | 0.92 ms | 1.88 ms | 0.96 ms |
| notify | 3.11 | 6.1 | 1.04 ms | 2.15 ms | 1.11 ms |
| followup | 0.27 | 5.7 | 0.46 ms | 0.77 ms | 0.31 ms |
| crisis | 0.73 | 2.1 | 0.04 ms | 0.27 ms | 0.23 ms |
| all four | 7.3 | 22.2 | 2.40 ms | 5.09 ms | 2.69 ms |

PostgreSQL as a whole: 5.21, 5.25, 5.34 ms per booking (autovacuum, the background writer and
the WAL writer 0.15 to 0.2 of it); 164 WAL records, 24 to 25 kB and 4.7 to 5.3 WAL flushes
(`fsync`) per booking. What that says:

- Half of PostgreSQL's CPU is not in any statement's time: it is the round trips themselves,
  about 22 statements and 7 commits (5 of them flushing WAL) per booking, some 120 µs of a
  backend's CPU per statement beyond its own time at this load. Fewer round trips and
  commits is the lever, and they are in the code paths others are changing (booking's
  request, notify's lanes, followup's reminders).
- The costliest statements: booking's appointment insert (the appointment and its slot claim:
  six GiST exclusion constraints and four foreign keys; 430 to 550 µs, 3.6 kB of WAL),
  notify's delivery outcome (520 µs, 3.2 kB), notify's claim (160 to 170 µs, 1.1 to 1.2 a
  booking), followup's two reminder events inserts (130 µs each), booking's outbox and key
  insert (100 µs) and its audit insert (the request's entry and the directory answer's, 110 to
  125 µs), the relays' `UPDATE outbox SET published_at` (0.5 a booking in notify, 164 µs).
- The services' idle looks (schedulers, lane workers, relays): 54 statements and 49 to 67
  commits a second in all four databases with nothing to do, 4 to 7 ms of PostgreSQL's CPU a
  second (`/proc` counts 10 ms ticks: coarse):
  about 0.05 ms per booking at 100 a second, less flat out. Not where the time goes.
- Planning: 0.15 ms per booking (statements are prepared once per connection). Triggers:
  only audit's append-only trigger, which never fires on an insert.
- Indexes no statement read during the window: every one backs a constraint (primary keys,
  unique ids, exclusion constraints) or a read that matters (the audit trail by site, client
  and actor; appointment lists; read-all in commit order; the pruner's age conditions), so none
  was dropped. One thing was written for nothing: the room exclusion constraints' GiST entry
  of every claim without a room (online and phone appointments), which can never conflict
  (a NULL key is distinct from every other).

Changed: the room exclusion constraints of `appointments` and `slot_claims` index only claims
that have a room (booking's migration 0004; same names, same refusals; a test books six
roomless sessions at one instant). Measured with `bench.pg_time` alternately against `main`
(three pairs, load 7 to 15): WAL of the appointment insert 3,555, 3,629, 3,604 bytes → 3,238,
3,219, 3,219; WAL records per booking 164, 164, 163 → 162, 161, 158; booking's backends
1.82, 1.88, 2.04 → 1.80, 1.72, 1.79 ms per booking; PostgreSQL as a whole 5.21, 5.25, 5.34 →
4.99, 4.75, 4.95 ms, though notify's and followup's backends, which the change does not touch,
fell by 0.05 to 0.2 ms too, and the load fell during the runs: the whole-server figure's gain
is mostly the neighbours'. `python -m bench.paced --rate 100 --rounds 3`, three alternations
(load 8 to 20): PostgreSQL 3.2, 2.3, 2.6, 2.5, 2.1, 2.5, 2.1, 2.2, 3.0 ms per booking before
and 2.1, 2.2, 2.2, 2.3, 2.4, 2.2, 2.1, 2.4, 2.4 after; at that load notify fell behind in most
rounds (its share of the window's work falls outside it), so those figures hide more than they
show. A small gain for online and phone bookings (two GiST inserts of six), none for bookings
in a room.

Not done, each a candidate: fewer round trips and commits on the paths above (others' work);
an asynchronous commit for the relays' published mark (a lost mark only publishes the event
again, which `Nats-Msg-Id` and the inbox drop), not done because `synchronous_commit` stays on
for the services; the appointments' three exclusion constraints, which `slot_claims` duplicates,
and the four foreign keys of an appointment (each locks the referenced site, counselor and client
row `FOR KEY SHARE`; with every booking at one site, concurrent lockers share that row, not
measured apart), kept because they protect the data.

### At idle

`python -m bench.idle` starts the stack as `make bench` does and leaves it alone (no site, no
booking): after 15 s it counts, per service database, the statements (`pg_stat_statements`)
and commits (`pg_stat_database`) a second, the CPU of its backends and of each service, and
groups the statements by the loop that sends them. Three runs of two 30 s rounds each,
alternating with `main` (2026-12-04 23:13 to 23:21, load 1.2 to 4.0):

| a second, at idle | statements, before | after | commits, before | after |
|---|---|---|---|---|
| booking | 8.0 | 0.8 to 0.9 | 3.0 | 0.3 |
| notify | 23.5 to 24.0 | 1.4 | 18.9 to 19.2 | 0.9 |
| followup | 12.4 | 1.6 to 1.7 | 5.4 | 0.8 to 1.0 |
| crisis | 9.2 | 2.0 to 2.1 | 4.2 to 4.6 | 1.5 to 1.9 |
| all four | 53.1 to 53.7 | 5.8 to 6.0 | 31.8 to 31.9 | 3.7 to 3.8 |

The databases' backends spent 4.2 to 5.0 ms of CPU a second before and 0.7 to 1.2 ms after
(`/proc` counts 10 ms ticks: coarse), the four services 18.7 to 19.5 ms before and 11.3 to 12.0
ms after.

Before, every loop looked once a second: notify's eight lane workers (two SMS and messaging,
two email, four bulk) a claim and a next-due look each (16 of its 24), every relay a drain
(`BEGIN`, its advisory lock, the look, `COMMIT`), every timer a claim transaction and a
next-due look, notify's webhook worker the same. Two changes:

1. **While a loop's LISTEN connection is up it sleeps up to `LISTENING_POLL` (10 s)**: the
   relays, the timers, notify's lanes and webhook worker. PostgreSQL hands a listening
   connection every NOTIFY committed, so the look by time only covers what no NOTIFY announces,
   and each loop already sleeps until the next due time it knows (a timer, a retry, a dead
   replica's lease running out). While the connection is down (connecting, reconnecting) they
   look every second as before, and the moment it drops its loop is woken. The 10 s bound is
   left for a LISTEN connection that died without its socket noticing.
2. **Of a lane's idle workers only one looks by time**; the others sleep until woken
   (`WakeOne`). A worker that claims wakes the next, which then looks by time; a worker whose
   next look is due sooner than the poller's (a retry it has just scheduled) keeps its own.

Tests (each fails on the wrong implementation, checked by breaking it): a lane of four idle
workers makes one worker's claims, not four; a message queued while the lane's LISTEN is down
goes out within the short poll, and one queued while it is up at once; a retry goes out at its
time while another worker sleeps on a 60 s poll; a message leased by a dead replica goes out when
the lease ends; eight messages queued at once keep all four workers busy; a relay and a timer
whose LISTEN is down publish or fire within the short poll, and while it is up make no look in
1.5 s with nothing due, yet fire a timer due in a second on time; a LISTEN connection killed by
`pg_terminate_backend` wakes its loop. crisis's integration tests move a controllable clock by
hand, which no NOTIFY announces: they set `LISTENING_POLL` to 0.5 s.

Latency did not get worse. `python -m bench.page_hops --pages 20 --rounds 3` (60 idle pages a
run, four runs on each side, alternating, load 3.7 to 8.5): a flag to the SMS provider took
29 to 67 ms at the median before and 23 to 26 ms after, p90 38 to 139 → 28 to 38 ms, the
slowest page 52 to 313 → 50 to 58 ms; crisis's relay hop (commit to relay) 5.9 to 20 → 5.1 to
5.5 ms at its median. Perhaps the once-a-second looks of some twenty loops, started together
and so waking together, kept pages waiting for a core now and then; not measured apart.
`python -m bench.paced --rate 100 --rounds 2 --seconds 15`, four runs on each side,
alternating (load 3.7 to 7.1): the suite's CPU per booking 13.2 to 18.9 ms before (median
16.4) and 13.8 to 19.3 ms after (median 16.5), PostgreSQL's 3.3 to 5.2 and 3.7 to 5.3 ms: no
difference beyond the noise (p99 49 to 507 ms before, 38 to 189 ms after: the load's).

Then one exception, for pages: **crisis's outbox relay and notify's page lanes keep the one
second look while listening** (`CrisisSettings.relay_listening_poll`, `listening_poll_of` in
notify's bootstrap; `LISTENING_POLL` only if shorter). A LISTEN connection that a firewall or
NAT drops after an idle timeout without a reset stays "up" to its socket; with the 10 s bound a
page queued meanwhile could wait up to 10 s at each of those two hops, and a page is what the
suite must never hold. crisis's timers keep the long look (their deadlines are known). And a
relay's look by time now first asks whether any row waits (`SELECT EXISTS`, one statement
outside a transaction) instead of draining (`BEGIN`, its lock, the look, `COMMIT`). Measured
with `python -m bench.idle --settle 15 --seconds 30 --rounds 2`: 13.0 statements a second in
all four databases with the page path's one-second looks alone (23:50, load 0.7; crisis 5.6,
of them 4 its relay's drain; notify 5.0, a claim and a next-due look a second in each of its
two page lanes), 9.1 with the relay's cheaper look too (23:56, load 0.2; crisis 2.6, notify
4.7, followup 1.3, booking 0.5), backends 1.5 ms of CPU a second.

Found on the way, and fixed: with `LISTENING_POLL` a relay whose drain left rows behind (NATS
down, a publish refused) slept up to 10 s before trying again while its LISTEN connection was
up, since no NOTIFY announces rows already committed: events committed during a NATS outage
went out up to 10 s after it ended instead of within a second. A drain that leaves rows (or
fails) now retries every `poll_interval` (1 s) whatever the LISTEN connection's state
(`tests/shared/integration/test_relay.py`: the NATS-outage test runs with a 60 s listening
poll; it failed on the previous code).

What is left at idle: crisis's and followup's gauges and crisis's escalation auditor (every 5 s,
0.4 to 1.2 statements a second), and NATS (6 to 8 ms of CPU a second, unchanged): every
consumer's pull request expires after a second and is sent again. One run with the consumers'
`fetch_timeout` at 10 s instead of 1 (not kept; load 2.0 to 3.9): NATS 2.3 to 2.7 ms of CPU a
second, the services 7.0 to 7.3 ms instead of 11.3 to 12.0. Not done: a longer pull request
outlives a client that reconnected or died for as long, and what JetStream then does with a
message for it was not checked. Nor folded: the next-due look into the claim statement (at one
look per lane per 10 s, 0.3 statements a second).

## Where a page's time goes

`python -m bench.page_hops` starts the same stack, sends 20 high risk flags 0.25 s apart in
each of three rounds (`--backlog 20000`: while notify's bulk lane drains that many
messages) and cuts each page's path at instants the services record anyway, on the machine's
one clock: crisis's outbox row (`created_at`, its transaction's start; `published_at`, the
relay's transaction), notify's inbox row (`received_at`, the consumer's batch), the SMS
notification (`created_at`, queued by the handler) and the SMS stand-in's file (its mtime,
the end of the timed window). It also prints each process's CPU while paging. Idle, the code
before this round, 60 pages (2026-12-04 09:35, load average 2.3 to 2.6), in ms:

| hop | p50 | p90 | max |
|---|---|---|---|
| `POST /risk-flags` sent → crisis's transaction begins | 4.6 | 8.4 | 14.4 |
| → crisis's relay publishes (its transaction begins) | 8.4 | 15.1 | 22.8 |
| → notify's consumer begins the batch | 7.6 | 278.9 | 490.5 |
| → the SMS is queued in the crisis lane | 1.9 | 5.8 | 13.6 |
| → the SMS provider stand-in has it | 17.1 | 25.9 | 79.3 |
| whole page | 42.7 | 306.2 | 521.7 |

What made the tail, and what was changed (each with a test that fails on the old code):

1. **A pull request left behind by the previous fetch** (relay → consumer). nats-py's
   `fetch` sends its requests with `no_wait` and `expires` (the server holds one until a
   message is there, then ends it with a 404), all answering on one subject. When a fetch
   gave up a moment before its request expired on the server (its timer starts before the
   request arrives), that request's late 408 arrived during the next fetch, which took it for
   its own end and sent a second, lingering request besides. The next message went to that
   leftover; the fetch after took it as its first message and waited for the end of a
   request that was not its own: up to the whole 1 s fetch timeout, or until another message
   came. The inbox consumer now pulls through `counseling_shared.pull.Puller`: each request
   answers on a subject of its own, so only its own 404 or 408 ends it, and messages brought
   by an earlier request are handed over with the next batch (never dropped).
   `tests/shared/integration/test_inbox_latency.py` slows the pull requests by 50 ms
   through a proxy (as a loaded machine does now and then): messages in pairs waited up to
   0.8 to 0.9 s for their handler before, at most 0.19 s after.
2. **The first page after a start paid for imports**: httpx loads anyio's asyncio backend
   at its first request, 40 to 60 ms on a quiet machine and 180 ms measured in the stack;
   notify's lane clients load it when they are created.
3. **The first page in each language compiled its template** (about 10 ms, several times
   that under load): the crisis lanes compile the page templates of every language at start.
4. **Behind a bulk backlog every hop of a page took two to three times as long as idle**,
   crisis's too: draining bulk mail kept the two cores busy (notify, PostgreSQL, the SMTP
   stand-in). While a page is being delivered, notify's bulk lane now claims nothing new (a
   second at most, so a stream of pages cannot stop it; the messages it is sending go on).

Checked and not a cause: the relay and the lane workers are woken by NOTIFY (a worker
claimed the SMS 0.5 ms after the NOTIFY reached it, not at its 1 s poll); the SMS client is
one keep-alive connection per lane; the provider is 127.0.0.1 (no DNS); the benchmark's
arrival instant is the file's mtime, no polling.

Before and after, alternating the old code (`main` before this round, in a second worktree,
with the same benchmark) and the new on the same machine, 60 pages per run (40 at 10:07),
each run's p99 and its largest relay → consumer hop ("20,000 bulk": behind the backlog):

| runs (2026-12-04), ms | load average | p99 before | p99 after | hop before | hop after |
|---|---|---|---|---|---|
| idle, 09:49 to 09:59 | 5 to 12 | 199, 730, 681 | 1,389, 541, 686 | 30, 140, 53 | 75, 62, 44 |
| idle, 10:18 to 10:23 | 2.0 to 4.5 | 269, 624, 227 | 117, 160, 165 | 178, 33, 22 | 19, 22, 24 |
| idle, 10:24 to 10:28 | 2.2 to 4.9 | 112, 366, 251 | 150, 208, 155 | 10, 36, 30 | 23, 39, 13 |
| 20,000 bulk, 10:01 to 10:05 | 5 to 6.5 | 598, 396 | 467, 596 | 521, 62 | 65, 70 |
| 20,000 bulk, 10:07 to 10:13 | 7.6 to 11.7 | 1,844, 522 | 946, 460 | 335, 93 | 87, 115 |
| 20,000 bulk, 10:28 to 10:33 | 2.1 to 5.2 | 250, 373 | 373, 478 | 124, 226 | 66, 54 |
| idle, 10:37 to 10:39 | 1.0 to 1.7 | 332, 423 | 76, 136 | 293, 277 | 8, 9 |
| 20,000 bulk, 10:39 to 10:42 | 1.3 to 3.2 | 359, 229 | 220, 264 | 49, 107 | 81, 39 |

The idle runs at 09:49 and the backlog runs at 10:01 and 10:07 had only the first change, the
idle runs at 10:18 the first two, the others the first three. On the quiet machine (10:37),
the rounds' p99 (20 pages each) were 332, 317, 308, 423, 167 and 85 ms before and 76, 47,
43, 78, 55 and 136 ms after (the one above 100 ms: one page's crisis request took 107 ms
before its transaction began), the median page 48 and 35 ms. The fourth change, measured
alone behind the backlog (the branch without it against the branch with it, alternately):
at 10:44 to 10:47 (load average 1.3 to 3.0), p99 280 and 193 ms without, 201 and 159 ms
with, the median page 104 and 82 ms without, 82 and 74 ms with, the SMS lane's hop (queued →
provider) at its median 54 and 43 ms without, 39 and 37 ms with; a third pair at 10:48, as
the load rose from 3.9 to 5.7, went the other way (222 ms without, 513 ms with, medians 111
and 162 ms). Its gain is not settled by these runs.

Behind the backlog, the first round after the backlog is queued is the slowest in every run,
before and after (PostgreSQL spends twice the CPU then that it does in the later rounds; not
looked into further); the later rounds' p99 was 117 to 158 ms before and 98 to 119 ms after in
the pair at 10:28. The consumer hop's tail is gone: its largest value in any run after is 115 ms,
against up to 521 ms before. The whole page's p99 still moves with the neighbours' load far more
than with our code: idle, it is below 100 ms on a quiet machine and not at a load average of 4
and more; behind the backlog, below 250 ms in most runs on a quiet machine, not on a loaded one.

## What was changed, measured

Earlier rounds: the pool returns connections without asyncpg's reset query; an event append
is one statement (version check, insert, `ON CONFLICT DO NOTHING`); the outbox rows and their
NOTIFY are one statement (10.7 → 9.5 ms of booking CPU per booking).

This round (booking's CPU per booking, flat out, on the shared machine: about 10 ms before
this round, about 5 ms after; the table above gives every process's):

1. **uvloop and httptools** under uvicorn (both picked automatically when installed): the
   event loop and HTTP parsing were a third of booking's samples.
2. **A new appointment and its slot claim in one statement.** `INSERT … ON CONFLICT DO NOTHING`
   answers the exclusion constraints without an error, so no savepoint is needed: the
   overlap look-up runs only when nothing was written (then the transaction is rolled back
   with the 409). Savepoint, appointment row, claim row, release: four round trips become one.
3. **The counselor, the client and the site's booking horizon in one query** (three become
   one).
4. **No worker thread per request**: booking's runtime dependency was a plain `def`, which
   FastAPI runs in a thread pool; it is `async` now.
5. **One span per request**: the ASGI instrumentation's `receive`/`send` child spans are
   excluded.
6. **The rate limit's sliding window counter** instead of its moving window, whose in-memory
   expiry handed every key to a worker thread (122 → 40 µs of CPU per request, measured
   alone).
7. **The load generator sends through aiohttp**: httpx's client cost 6 to 9 ms of CPU per
   request on the same two cores, as much as booking itself (now about 2 ms).
8. **notify's lane workers are woken one at a time** (`WakeOne`): a NOTIFY used to wake every
   idle worker, and each ran a claim and a next-due query for one message (test: one queued
   message makes at most three claims among four workers; it made six). Their claim is one
   statement in autocommit (its `BEGIN` and `COMMIT` were two of three round trips).
9. **Schedulers stay asleep for far timers**: a timer's NOTIFY carries its due time, and a
   scheduler already set to wake before it ignores it (a reminder planned for tomorrow cost
   followup's scheduler a lock, a look-up and a next-due query per booking).
10. **The relay skips its backlog count** after a short batch that went out whole (one
    statement in six of a drain, in every service).

What did not help enough to matter, or was left: dropping the idempotency middleware's
look-up before the transaction (a replay must not run the command's validation again, so it
stays).

The next round (2026-12-04) cut round trips and commits on the booking path and in the shared
backbone, keeping every behaviour (tests for the new paths fail on the old code):

1. **An `Idempotency-Key`'s lock and look-up are one statement.** The look-up's snapshot
   predates the lock, so a record committed by the key's previous holder in between is not
   seen there; the record's insert at commit now overwrites an expired record only, and
   finding a live one rolls the command back and answers it as a replay (before, it
   overwrote whatever it found).
2. **A keyed command's record and its outbox rows are one statement** at commit. Each module
   gives its own insert as a fragment (`idempotency.upsert`, `outbox.insert_rows`); the unit
   of work, whose job is the commit, puts them together.
3. **A new appointment's events, its row and its slot claim are one statement**
   (`eventstore.append_statement` with the booked row's common table expressions). Together
   with 1 and 2, booking's transaction is six round trips instead of nine.
4. **Audit entries are written together** (`counseling_shared.audit_batch`): while one insert
   runs, the entries that arrive wait and go in the next, one statement and one commit for
   all; each request still waits for its own entry (a read is answered only once recorded),
   and a bad entry fails alone. Every HTTP request of every service and each directory answer
   writes one, so under load this saves a commit per request.
5. **An inbox batch's outbox rows are one statement** after its handlers (the fast pass; each
   row made in its message's span, so it keeps that message's trace): a consumer whose
   handlers publish (followup's, planning reminders) no longer writes the outbox per message.
6. **A follow-up's row and its scheduler wake-up are one statement** in followup.

Measured old and new code alternately (`main` at f24bf3c and this branch before main's notify
and rebuild changes were merged in; each run a fresh stack, 3 s warm-up, then two 10 s
flat-out windows with 16 in flight; five rounds, 09:45 to 10:28, load average 3.4 to 11.8),
CPU per booking, every window (one window of each side lost to a crashed load run):

| process | old, median of 9 windows | new, median of 9 windows |
|---|---|---|
| booking | 5.7 ms | 4.9 ms |
| followup | 4.0 ms | 3.3 ms |
| notify | 5.2 ms | 4.3 ms |
| postgresql | 6.7 ms | 5.2 ms |
| all processes | 24.8 ms | 20.4 ms |

Every window, old then new (ms):

- booking: 6.05, 5.08, 5.64, 6.50, 5.96, 6.36, 5.03, 5.68, 5.58;
  4.27, 3.65, 5.14, 4.64, 5.33, 4.92, 4.71, 5.10, 4.85
- followup: 3.59, 3.64, 4.28, 4.43, 4.04, 4.82, 3.39, 3.32, 3.96;
  2.58, 2.42, 3.59, 3.54, 3.96, 3.17, 2.61, 3.44, 3.31
- notify: 5.20, 4.71, 5.44, 6.50, 5.84, 6.18, 4.25, 4.86, 5.15;
  3.79, 3.49, 4.83, 4.28, 5.92, 4.41, 3.44, 4.84, 4.14
- postgresql: 6.39, 5.97, 7.06, 7.39, 6.86, 7.17, 5.74, 6.13, 6.68;
  4.70, 4.19, 6.01, 5.14, 5.92, 5.27, 4.65, 5.63, 5.19
- all processes: 24.5, 22.3, 26.2, 28.9, 26.7, 28.7, 21.1, 23.2, 24.8;
  17.6, 15.8, 23.0, 20.6, 24.7, 20.4, 17.7, 22.4, 20.2

About a sixth less CPU per booking in all, a seventh in booking's own process. Rates moved
with the neighbours' load far more than with the code: 55 and 60 bookings a second (old)
then 106 and 111 (new) at a load of 6 to 7; 27 to 36 for both at 10 to 12; 66 to 79 (old)
and 70 to 90 (new) at 3.6 to 5.2. CPU per booking also falls a little as the rate rises
(relays and consumers batch more), so the pairs at a similar load compare best: booking
5.6 → 4.0 ms at 6 to 7, 6.2 → 5.3 ms at 11 to 12, 5.4 → 4.9 ms at 3.6 to 5.2.

The round after (2026-12-04, afternoon) took the two costs the profile named in booking's
HTTP path, and followup's per-reminder round trips, keeping every behaviour (each new test
fails on the old code):

1. **A keyed booking's `Idempotency-Key` is looked up in its transaction only.** The unit of
   work's first statement already locks the key and looks it up; the middleware's look-up
   before the command (a pool acquire, a statement, a release) is skipped for routes of
   `KeyCheckedInTransaction`, whose commands only read before their unit of work (every
   booking route: `run_command` runs the whole command in it). A replay costs its body's
   validation and that one statement; a command refused before its transaction (a body that
   no longer validates, another body under the same key) looks the key up afterwards, so it
   is still answered as a replay or a 422; a replay's attempt writes no audit entry, only its
   read does, as before. The other services' routes keep the look-up before the command.
2. **FastAPI's own telemetry makes the server span** (`FastAPI(telemetry=...)`, one span per
   request, none for the probes), named once routing has chosen the route; the
   OpenTelemetry instrumentation matched the path against every route in turn first.
3. **A new follow-up's events, its row and its scheduler wake-up are one statement**
   (`FollowupStore.add_followup`), written only when it has no row yet; a reminder needed a
   look-up of its row, the append and the row's write before. A follow-up planned before (a
   redelivered booking) is read and decided as before.

Measured old (`main` at f293d5b) and new code alternately, each run a fresh stack, 3 s
warm-up, two 10 s flat-out windows with 16 in flight, CPU per booking from `/proc`: ten
rounds, 14:02 to 14:39, load average 4.6 to 8.6 (other work on the machine). Rounds 1 to 3 had
changes 1 and 2 only: booking 5.33 → 4.08 ms, followup 3.45 → 2.82, PostgreSQL 5.92 → 4.93,
all processes 21.9 → 17.6 (medians of 6 windows each). Rounds 4 to 10 had all three (medians
of 14 windows each):

| process | old | new |
|---|---|---|
| booking | 5.07 ms | 4.52 ms |
| followup | 3.31 ms | 3.13 ms |
| notify | 4.64 ms | 4.42 ms |
| postgresql | 5.76 ms | 5.41 ms |
| all processes | 21.4 ms | 20.3 ms |

Every window of rounds 4 to 10, old then new (ms):

- booking: 4.79, 4.60, 5.97, 5.59, 4.50, 4.55, 4.81, 5.27, 4.90, 4.50, 5.23, 5.58, 5.28, 5.50;
  4.74, 4.42, 4.53, 4.55, 3.37, 4.44, 4.80, 4.47, 4.63, 4.51, 5.32, 4.60, 3.96, 3.92
- followup: 3.20, 3.03, 3.82, 4.17, 2.94, 3.05, 3.33, 3.42, 3.33, 3.21, 3.26, 3.30, 3.71, 3.61;
  3.24, 3.29, 3.13, 3.05, 2.28, 3.19, 3.20, 3.13, 3.14, 3.14, 3.04, 3.45, 2.72, 2.55
- postgresql: 5.76, 5.06, 6.73, 6.57, 5.19, 5.48, 5.89, 5.58, 5.51, 5.40, 5.94, 5.77, 6.16,
  5.82; 5.99, 5.45, 5.92, 5.08, 4.24, 5.17, 5.53, 5.40, 5.52, 5.41, 5.49, 5.37, 4.67, 4.79
- all processes: 20.9, 19.2, 25.3, 24.7, 19.0, 19.9, 21.6, 21.2, 20.8, 19.9, 21.8, 22.0, 23.4,
  22.5; 22.4, 20.7, 21.9, 20.1, 15.0, 19.3, 21.0, 20.2, 20.4, 20.7, 20.6, 20.2, 17.6, 17.5

About a ninth less CPU per booking in booking's process; followup's and PostgreSQL's gains
(a booking of the benchmark plans one reminder, its other one already past) are within the
spread. The flat-out rate did not move beyond the neighbours' load: medians 58 (old) and 53
(new) bookings a second in rounds 4 to 10, 49 and 60 in rounds 1 to 3, every window between
32 and 97.

Booking's own path (2026-12-04, 20:45 to 22:05 UTC, issue #12): a keyed booking's transaction
is four round trips instead of six, keeping every answer, audit entry and span:

1. **A new appointment's statement also writes its outbox rows and its `Idempotency-Key`
   record** (`UnitOfWork.write_with_flush`; the appointment's events, row and slot claim were
   one statement already). The outbox rows and the record are those `flush` would write at
   commit, made from the events published so far; a live record found by the insert raises as
   at commit, and an overlap or a lost race still rolls all of it back. Events published
   afterwards (none for a booking) are still written by `flush`, and a series' later bookings
   no longer write the record again.
2. **The key's lock and look-up are joined to the booking's parties' read**
   (`UnitOfWork.first_read`, opted into by `POST /appointments` with
   `run_command(..., key_in_first_read=True)`): one statement reads the counselor, the client,
   the site's horizon, takes the key's lock and looks the key up, and refuses as `begin` did
   (409 `request-in-progress`, or a replay). A unit of work that opts in and makes no first
   read has the key held at `flush`; every other route keeps `begin` first.

Tests: a keyed booking's transaction on its connection is `BEGIN`, the lock with the parties'
read, the appointment with its outbox rows and key record, `COMMIT` (six statements on main:
the test fails there); a booking whose key another transaction holds is a 409
`request-in-progress` and books nothing. `python -m bench.statements 20`: booking's
statements per booking 15.6 (main) and 14.2 (this branch); all four databases 53.2 and 48.0
(the others vary with their idle looks). Measured with `python -m bench.paced --rate 100
--rounds 3`, main (its own worktree) and the branch alternately, three pairs each, booking's
CPU per booking per round. Change 1 alone (20:55 to 21:25, load average 8 to 20): main 2.04,
2.09, 1.92, 2.08, 1.85, 2.02, 1.93, 1.96, 1.88 ms (median 1.96), branch 1.74, 1.81, 1.81,
2.06, 2.02, 1.90, 2.16, 2.08, 2.12 (median 2.02). Both changes (21:25 to 21:48, load 9 to
13): main 2.10, 2.02, 1.87, 1.86, 2.15, 1.98, 2.47, 2.47, 2.22 (median 2.10), branch 2.29,
1.80, 1.88, 2.13, 2.38, 2.31, 2.33, 2.55, 2.49 (median 2.31). At these loads the machine could
not keep 100 bookings a second in most rounds (p50 from 40 ms to 11 s): where booking falls
behind, its relay, audit writer and notify's look-ups batch more and its CPU per booking
drops to about 1.9 ms, where it keeps up it is 2.2 to 2.6 ms on either side, and which
regime a round lands in follows the neighbours, not the code. Once more, both changes, on a
quieter machine (21:52 to 22:05, load 4.6 to 9.0), where both sides kept up in most rounds:
main 2.94, 2.76, 2.78, 2.28, 2.56, 2.50, 2.41, 2.55, 2.41 ms (median 2.55), branch 2.37, 2.47,
2.24, 2.59, 2.66, 2.42, 2.08, 2.03, 2.61 (median 2.42; the 2.08 and 2.03 with p50 of 0.2 and
0.5 s); rounds at the same p50 compare best: 26 ms, main 2.76 and 2.78, branch 2.59; 31 ms,
branch 2.47 and 2.66; 40 to 52 ms, main 2.28 to 2.56, branch 2.24 to 2.61; PostgreSQL's CPU
per booking at 26 ms 4.64 to 5.08 on main, 4.25 here. So the two fewer round trips (about a
seventh of booking's statements per booking) show as at most 5 to 10 % of booking's CPU in
the rounds that compare, within the spread of the neighbours' load; they also leave
PostgreSQL two statements fewer per booking.
Profiled between the second and third pairs (`--rounds 1 --profile`, each side once, load 8: p50
79 ms on main, 40 ms here; booking 2.37 and 2.42 ms a booking): asyncpg's share of
booking's samples 45 % on main and 37 % here, the transaction's statements 37 % and 32 % (main:
the key's look-up 3.9 %, the parties' read 4.7 %, the appointment 9.4 %, the outbox rows and
key record 5.3 %; here: the joined read 4.5 %, the joined write 9.9 %), the event loop 19 %
and 24 %, the HTTP stack 20 % either way, the relay 7 to 8 %, the audit writer about 4 %.
py-spy's samples cover about 90 % of the window's wall time while booking used a quarter
of a core, so they are not CPU time: the shares moved, booking's CPU did not measurably.
Not done: the relay's advisory lock and its `SELECT` in one statement (the select's snapshot would
predate the lock, so a second relay could publish rows already published: left); `BEGIN` in
the first statement (asyncpg sends it alone).

Later, a change's audit entry moved into its own transaction (docs/security.md, "Audit"): a
booking's entry now rides in the statement that writes the appointment, its outbox row and
its key record, instead of going through the batch writer after the commit. One booking at a
time (`python -m bench.pg_time --flat 1 --seconds 15`, once each side, load 5), booking's
database went from 3.96 commits and 11.0 statements a booking to 2.49 and 9.5 (the separate
audit insert had been 1.48 calls a booking; the booked statement's mean rose from 702 to
785 µs with the extra insert). Paced at 100/s the batch writer had already shared that insert
among many requests, so the saving there is small (4.65 to 4.60 statements, 1.53 to 1.50
commits a booking), and booking's CPU did not move measurably: `python -m bench.paced
--rounds 2 --seconds 15`, three runs each side alternately at load 6 to 10, 2.2 to 2.9 ms a
booking on main (mean 2.58) and 2.3 to 3.0 here (mean 2.62).

Site closures and group sessions (2026-12-05) put one more `LEFT JOIN` (the site's closures)
into a booking's first statement and a `WHERE group_session_id IS NULL` predicate on the
counselor's and room's exclusion constraints. `python -m bench.paced --rate 100 --seconds 5
--rounds 2`, the code before them (a2b2d6f) and after alternately, two runs each, load 5 to 8.5
(other work on the machine): booking's CPU per booking 2.5, 2.3, 2.5, 2.3 ms before and 2.5,
2.4, 2.2, 2.3 after, PostgreSQL's 3.0, 2.3, 3.0, 2.9 and 3.2, 3.2, 2.7, 3.0 ms: no change the
neighbours' noise does not cover.

## Not reached, and what is left

- Booking is far from 10 % of pgbench's single-row inserts: the CPU table above shows why on
  this machine. Every booking costs the whole suite (booking, notify's confirmation,
  followup's reminder, crisis's delivery tracking, PostgreSQL, NATS and the load generator)
  7 to 8 ms of CPU on a quiet machine, and two to three times that on a loaded one, on two
  shared cores: that caps the rate near 250 to 280 a second before any queueing, where 10 %
  of pgbench would need at most about 2.2 ms. The paced 100/s keeps its p99 under 50 ms on a
  quiet machine and not on a loaded one (at 100 a second the two cores are full at 20 ms of
  CPU per booking, and bookings wait for each other's CPU well before). What is left, by size:
  - notify's per-message work. Done: SMTP connections are kept between messages
    (`adapters/smtp_connections.py`); the consumers of booking's and followup's events
    (`notify-appointments`, `-followups`, `-waitlist`) and the three webhook durables have batch
    handlers, so a fetched batch reads its clients' facts in one query and stores every
    notification (event, row, the lane's wake-up) in one statement, or queues every webhook
    delivery in one; a page's two rows are one statement; a lane worker's claim reads the
    recipient's facts in the same statement, and a delivery's outcome (events, row, attempt,
    `NotificationSent`, the relay's wake-up) is one statement outside a transaction, the row
    locked at the claimed version so a lost lease or an erasure writes nothing (a delivered
    confirmation: two round trips, from six plus the facts). Measured on 2026-12-04, old (`main`
    at f293d5b) and new code alternately, each run a fresh stack, load average 4.4 to 8.3:
    `python -m bench.notify_load --bookings 300 --in-flight 16` (bookings 16 at a time, so
    booking's events reach notify in bursts) gave notify's database 18.8, 19.1, 19.1, 19.2, 18.5
    statements per confirmation before and 7.1, 7.7, 7.4, 7.3, 7.1 after, and CPU per
    confirmation (the burst and the drain after it, statement log on) notify 12.5, 13.6, 12.7 →
    9.5, 10.1, 9.6 ms and PostgreSQL 11.7, 11.9, 11.5 → 9.7, 9.9, 9.2 ms; `python -m
    bench.notify_cost --bookings 30 --backlog 1000` gave notify's CPU per booking (one at a
    time) 17.3, 20.0, 18.7, 12.7 → 16.3, 17.0, 16.3, 15.7 ms, notify's CPU per bulk message 9.0,
    9.2, 8.5, 6.7 → 7.7, 8.1, 9.2, 6.9 ms and the bulk lane 27.6, 41.7, 37.2, 77.1 → 37.2, 45.1,
    31.0, 50.4 messages/s: the drain's gain, if any, is inside the spread of the neighbours'
    load (sending, not its statements, is most of a bulk message). Then (2026-12-04, 20:52 to
    21:57 UTC) a bulk-lane worker claims up to `NOTIFY_BULK_CLAIM` (8) due messages in one
    statement, each with its own lease, asks booking for all their clients in one request
    (`booking.directory.contacts`, an extension: one entry and one audit row per message, as if
    each had been asked alone; `booking.directory.contact` is unchanged, and a booking without
    the new subject is asked one client at a time), sends them in turn and records their
    outcomes in one statement (`adapters/notification_outcomes.py`, each row locked at its
    claimed version, so a lost lease or an erasure drops that message's outcome only). Before
    each send after the first it gives the rest back at once when a page is being delivered
    (recording what it sent once the page is out) or half the lease has gone by; stopped, it
    records what it sent and gives back the rest.
    The crisis lane still claims one message at a time. Measured against `main` alternately,
    each run a fresh stack, load average 9 to 15 (other runs on the machine): `python -m
    bench.notify_cost --bookings 30 --backlog 1000` gave CPU per bulk message notify 4.44,
    4.09, 4.07 → 3.12, 3.24, 2.98 ms, PostgreSQL 2.48, 2.41, 2.42 → 0.58, 0.81, 0.73 ms,
    booking (its directory answers) 1.05, 0.91, 0.89 → 0.24, 0.26, 0.23 ms and crisis 1.07,
    0.95, 0.93 → 0.38, 0.41, 0.37 ms (its consumer of `NotificationSent` gets them in bigger
    batches): about 9 → 4.5 ms of the suite's CPU per bulk message. notify's CPU per booking
    there (one booking at a time, so claims of one) did not change: 8.67, 9.67, 9.00 → 9.33,
    10.00, 8.33 ms; nor did it in `python -m bench.paced --rate 100 --rounds 3` (two pairs,
    the machine saturated by the neighbours: p50 1 to 5 s on both sides), notify 0.6, 0.6, 0.6,
    1.1, 0.5, 0.6 → 1.8, 0.6, 0.7, 1.3, 0.6, 0.6 ms per booking per round (confirmations come
    one or two at a time there too; a claim of one sent through the one-message path instead
    made no difference either, two pairs at paced 100/s: notify 4.6 to 4.8 ms a booking against
    4.6 to 4.7, so it was not kept). The bulk lane alone drained 38.2, 46.0, 60.2 → 48.3, 43.4,
    44.4 messages/s (`notify_cost`, the rate bound by each worker's sends one after another, and
    by the neighbours); behind pages (`bench.backlog`'s measurement: 20 pages 0.25 s apart
    behind 20,000 check-ins; an ad hoc script calling `bench.backlog.measure`, before the change
    below) it drained 30, 31, 33 → 152, 85, 38 messages/s while the pages' p50 / p99 went 177 /
    418, 184 / 349, 170 / 390 → 72 / 177, 111 / 300, 192 / 361 ms. `python -m
    bench.page_hops --backlog 20000` (60 pages a run) first said otherwise: end-to-end medians
    146, 192, 213, 107, 55 → 204, 297, 297, 152, 158 ms in five pairs (load 9 to 15), the
    crisis lane's queued → provider hop slower too, when a worker stopped by a page recorded
    what it had sent (up to 8 rows) while the page was out. It now gives the rest back at once
    and records after the page; six more pairs (load 5 to 8.5) gave medians 62, 58, 67, 122,
    90, 109 → 79, 104, 44, 96, 78, 93 ms, worst pages 385, 148, 187, 181, 287, 239 → 305, 181,
    92, 235, 235, 192 ms, and the median of the rounds' p99 (20 pages each; the first three
    pairs, then the last three) 134 and 192 → 135 and 168 ms: no worse, within the
    neighbours' noise. The hops before notify (crisis's transaction and relay) were slower too
    in the first five pairs, probably because the faster lane takes more of the two cores
    while it drains, which the pages-first hold (only while a page is delivered) does not
    cover. Left: sending (composing the
    email, the SMTP transaction) is now most of a bulk message; a worker's claimed messages go
    one after another, so with 4 workers the lane's rate is bound by 4 sends in flight, and
    sending a claim's messages concurrently is not built (each would need its own SMTP
    connection, and a page would then find more bulk sends in flight). A contact
    cache is not built on purpose: the contract is that booking's answer serves one delivery and
    is never stored, each answer is an audit entry in booking, booking's erasure sends notify's
    process no event, and `ClientContactChanged` carries no address and reaches one replica
    after the relay's delay, so a cache would send to an address the client just corrected. A
    py-spy profile of notify draining a backlog (before this round) put 13 % in composing the
    email (the `email` package's header parsing), 14 % in the SMTP transaction, 14 % in
    recording, 22 % in the event loop itself (per round trip) and 2 % in the directory request;
  - the remaining round trips (about 62 statements per booking across the databases, one
    booking at a time). A keyed booking's transaction is now `BEGIN`, the key's lock with the
    parties' read, the appointment's statement with its outbox rows and key record, `COMMIT`
    (four round trips; see "What was changed, measured"). The other
    services' routes keep the idempotency look-up before the command (`KeyCheckedInTransaction`
    is for routes whose commands only read before their unit of work: booking's all do; the
    others are not checked);
  - a `*_WORKERS` setting for several uvicorn processes per service is not built: it only
    helps where there are spare cores (not here), and each process would need Prometheus's
    multiprocess mode for one `/metrics`; replicas (Kubernetes, Compose) give the same
    scaling today.
- Projection rebuilds run near 20,000 events/s for followup, notify and crisis on a quiet
  machine, each above it in some runs and below in others, and booking below it: two `make
  bench` runs on 2026-12-04 (load 1.3 and 0.8 at the start) gave followup 22,063 and 18,974,
  notify 25,970 and 22,964, crisis 19,660 and 21,553, booking 10,018 and 13,711 events/s; two
  more at 22:11 and 22:16 UTC (load 0.6 and 3.0; booking's room constraints no longer index
  roomless claims, see "Where PostgreSQL's time goes") gave followup 16,300 and 18,502, notify
  23,663 and 23,395, crisis 21,798 and 20,838, booking 15,819 and 15,839 events/s
  (booking on stores of about 5,000 events, where its fixed costs weigh more). What is left
  for booking is PostgreSQL's: its six exclusion constraints checked for every booked
  appointment (about 0.4 s of CPU on a 12,000-event store, however they are built), which puts
  its best rate near 24,000 events/s; dropping `appointments`' three, which `slot_claims`
  duplicates as long as every writer keeps a claim beside each booked appointment, would be a
  schema change and is not done. For crisis and followup, the fold and the writes reach 20,000
  events/s only when the two run on separate cores at the same time. Rebuilding into new
  tables without indexes and swapping them in is not built (it touches every foreign key,
  grant and prepared statement naming the tables).
- The `SessionCompleted` → follow-up pipeline runs at 11 to 16 % of the consumer's raw
  limit: each session makes followup learn the client, anchor the session, record the
  contact regularity and plan the check-in, each its own stream and rows; batched (256 a
  fetch, written in chunks while the next are handled), what is left is mostly the
  per-message handlers' own Python (about 40 % of followup's samples), then the writes (18 %)
  and the event loop (13 %).
- notify's bulk lane: each worker claims up to `NOTIFY_BULK_CLAIM` (8) messages at once, asks
  booking's directory for their clients in one request and sends them one after another over
  a kept SMTP connection: 330 a second here while pages are sent (170 to 190 before the
  multi-claim), so a 20,000-message backlog takes about a minute to drain. Pages do not wait
  behind it (nearly all of it is still queued when the last page arrives), but their latency
  follows the machine's load (see "Where a page's time goes"): what is left is CPU time on two
  shared cores, which stretches every hop two to five times at a load average of 5 to 10 (the
  SMS lane's hop, queued → provider, from 17 ms to 70 to 90 ms at its median). The idle p99
  is below 100 ms on a quiet machine, not always on a loaded one: the bulk lane holds back new
  claims while a page is delivered, but the page's way up to that point (crisis, the relay,
  notify's consumer) still shares the cores with the drain; pausing the bulk lane from the
  moment a page is queued is not built. A real SMS provider is reached over TLS, where httpx's
  5 s keep-alive expiry makes a page after a quiet spell open a new connection (DNS, TCP,
  TLS): a longer keep-alive for the crisis lanes' clients would spare that, but the stand-in
  on 127.0.0.1 cannot measure it.
- The schedulers' claim: met, judged by its cost in PostgreSQL since 2026-12-04 (see its
  section); the round trip the scheduler sees is two modes of wake-up latency that do not
  depend on the table's size.
"""
