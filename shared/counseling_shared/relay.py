"""The outbox relay: committed outbox rows → JetStream, marked only after the ack
(docs/backbone.md).

Woken by `LISTEN outbox` (so latency is milliseconds) with a poll as a safety net: every
`poll_interval` while the LISTEN connection is down, every `listening_poll` while it is up (no
NOTIFY is missed then; the poll covers a connection that died without a word). A look by time
first asks whether any row waits (one statement, outside a transaction) before it drains; rows
a drain could not settle (NATS or the database failing) are tried again every `poll_interval`
whatever the LISTEN connection's state, since no NOTIFY will announce them. One replica
drains at a time (a transaction-scoped advisory lock), so rows leave in outbox order; a row is
republished after a crash between ack and mark, and JetStream drops it by `Nats-Msg-Id`.

Publishes are pipelined, except that a row waits for the ack of the previous row of the same
aggregate: if that one fails, nothing later of the aggregate has gone out, so the stream keeps
each aggregate's order. Only the settled prefix of a batch is marked. A row that can never be
published (larger than the server's max_payload, or its stream exists but does not take its
subject) moves to `outbox_dead_letters` with its reason, so the rows after it keep flowing. A
stream that does not exist (yet, or any more: NATS lost its volumes, or the service started
before the streams were declared) holds the rows back instead, retried with a back-off, and
`outbox_relay_stream_missing` says so; meanwhile only its first row is sent again (a probe),
not the rows after it.

While NATS is disconnected nothing is published (nats-py would buffer the publishes, then
refuse them); the gauges are kept true meanwhile. The relay publishes on a JetStream context of
its own, and a batch cancels whatever is still pending on it when it ends: nats-py never gives
back the pending-publish slot of a publish whose send raised, and with every slot gone
`publish_async` would wait for ever. `outbox_relay_heartbeat_timestamp_seconds` says when the
relay last left nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from counseling_shared.db import DATABASE_ERRORS
from counseling_shared.logs import get_logger
from counseling_shared.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_DEAD_LETTERS,
    OUTBOX_LAG_SECONDS,
    OUTBOX_PUBLISHED,
    OUTBOX_RELAY_HEARTBEAT,
    OUTBOX_STREAM_MISSING,
)
from counseling_shared.outbox import OUTBOX_CHANNEL
from counseling_shared.waiting import wait_for_wake
from counseling_shared.wakeups import ListenState, listen_for_wakeups

if TYPE_CHECKING:
    from counseling_shared.db import Connection

log = get_logger(__name__)
_RELAY_LOCK = 0x72656C79  # "rely"
_STREAM_MISMATCH = 10060  # JetStream: "expected stream does not match"


@dataclass
class _Settled:
    """How far a batch got: its leading rows that are done, and the dead ones among them."""

    count: int = 0
    dead: dict[int, tuple[str, str]] = field(default_factory=dict)  # position → reason, detail
    missing_stream: str | None = None  # the batch stopped at a row whose stream does not exist

    @property
    def published(self) -> int:
        return self.count - len(self.dead)


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for i, part in enumerate(want):
        if part == ">":
            return len(have) > i
        if i >= len(have) or part not in ("*", have[i]):
            return False
    return len(want) == len(have)


def _raise_if_cancelled() -> None:
    """nats-py turns a cancel that lands while `publish_async` waits for a pending-publish slot
    into `TooManyStalledMsgsError`: give the cancel back rather than count a failed send."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        js: JetStreamContext,
        *,
        dsn: str,
        schema: str | None = None,
        batch_size: int = 256,
        poll_interval: float = 1.0,
        listening_poll: float = 10.0,
        publish_timeout: float = 5.0,
        retry_delay: float = 0.5,
        max_retry_delay: float = 5.0,
        max_pending: int = 4000,
    ) -> None:
        self._pool = pool
        self._nc = js._nc  # the context keeps its client private
        # A context of the relay's own (same client, prefix and timeout): every publish pending
        # on it is the relay's, so a batch may cancel them all and count them itself.
        self._js = JetStreamContext(
            self._nc, prefix=js._prefix, timeout=js._timeout, publish_async_max_pending=max_pending
        )
        self._max_pending = max_pending
        self._dsn = dsn
        self._schema = schema
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._listening_poll = listening_poll
        self._listen = ListenState()
        self._publish_timeout = publish_timeout
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._retries = 0  # drains in a row that left rows behind: the back-off's exponent
        self._wake = asyncio.Event()
        self._backlog_counted_at = 0.0
        # The last drain left rows it could not settle (or failed): retry them soon.
        self._stuck = False
        self._more = False  # the last drain settled what it took and more waits: go on at once
        # The heartbeat: whether the last look or drain left nothing behind, and when one last
        # did (a drain that settled a whole batch counts too). Read when scraped.
        self._clear = False
        self._clear_at = 0.0
        # Unix time the oldest unpublished row the relay knows of was created (None: none), so
        # the lag keeps growing while the relay cannot look.
        self._oldest: float | None = None
        self._waiting_for_nats = False
        self._missing_streams: set[str] = set()
        OUTBOX_RELAY_HEARTBEAT.set_function(self._heartbeat)
        OUTBOX_LAG_SECONDS.set_function(self._lag)

    def wake(self) -> None:
        self._wake.set()

    def _heartbeat(self) -> float:
        return time.time() if self._clear else self._clear_at

    def _lag(self) -> float:
        return 0.0 if self._oldest is None else max(time.time() - self._oldest, 0.0)

    def _left_nothing(self, *, idle: bool) -> None:
        """A drain settled every row it took (`idle`: and there was no more), or a look found
        nothing waiting."""
        self._clear_at = time.time()
        self._clear = idle
        self._retries = 0

    async def run(self) -> None:
        listener = asyncio.create_task(
            listen_for_wakeups(
                self._dsn,
                self._schema,
                OUTBOX_CHANNEL,
                self._wake,
                retry_delay=self._retry_delay,
                state=self._listen,
            ),
            name="outbox-listen",
        )
        try:
            woken = True  # drain what start-up finds
            while True:
                try:
                    # A look by time first asks, outside any transaction, whether anything
                    # waits: at idle one statement instead of a drain's four.
                    if woken or self._stuck or await self._anything_waiting():
                        while await self.drain_once() and self._more:
                            pass
                except DATABASE_ERRORS as exc:
                    log.warning("outbox_drain_failed", error=repr(exc))
                    self._stuck = True
                    self._clear = False
                    await asyncio.sleep(self._retry_delay)
                # Rows left behind (NATS or the database failing) are retried at the short
                # interval, whatever the LISTEN connection's state: no NOTIFY will announce them.
                poll = (
                    self._poll_interval
                    if self._stuck
                    else self._listen.poll(self._poll_interval, self._listening_poll)
                )
                woken = await wait_for_wake(self._wake, poll)
                self._wake.clear()
        finally:
            self._clear = False  # a stopped relay's heartbeat stops too
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _anything_waiting(self) -> bool:
        """Whether an outbox row waits to be published (`outbox_unpublished`'s index)."""
        waiting = bool(
            await self._pool.fetchval(
                "SELECT EXISTS (SELECT FROM outbox WHERE published_at IS NULL)"
            )
        )
        if not waiting:
            self._oldest = None
            self._left_nothing(idle=True)
        return waiting

    async def drain_once(self) -> int:
        """Publish one batch; return how many rows were settled (published or dead-lettered)."""
        self._stuck = False
        self._more = False
        self._clear = False
        if not self._nats_connected():
            await self._measure_while_disconnected()
            self._stuck = True
            return 0
        async with self._pool.acquire() as conn, conn.transaction():
            # Not ours: another replica drains (and keeps the heartbeat its service shows).
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RELAY_LOCK):
                return 0
            rows = await conn.fetch(
                """SELECT position, event_id, stream, subject, payload, headers, created_at,
                          aggregate
                   FROM outbox WHERE published_at IS NULL ORDER BY position LIMIT $1""",
                self._batch_size,
            )
            if not rows:
                OUTBOX_BACKLOG.set(0)
                self._oldest = None
                self._note_missing_stream(None)
                self._left_nothing(idle=True)
                return 0
            self._oldest = rows[0]["created_at"].timestamp()
            settled = await self._publish(rows)
            await self._after_publish(settled.published)
            published = [
                r["position"] for r in rows[: settled.count] if r["position"] not in settled.dead
            ]
            if published:
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE position = ANY($1::bigint[])",
                    published,
                )
                OUTBOX_PUBLISHED.inc(len(published))
            if settled.dead:
                await self._dead_letter(conn, settled.dead)
            await self._measure_backlog(
                conn,
                drained=len(rows) < self._batch_size,
                settled_all=settled.count == len(rows),
            )
        # The row that probed a missing stream was stored: the stream is back.
        probe_passed = bool(self._missing_streams) and settled.missing_stream is None
        self._note_missing_stream(settled.missing_stream)
        if settled.count < len(rows):
            self._oldest = rows[settled.count]["created_at"].timestamp()
            self._stuck = True
            if probe_passed and settled.count > 0:
                self._more = True
                self._retries = 0
            else:
                await asyncio.sleep(self._next_retry_delay())
        else:
            self._oldest = None  # the next drain, if any, looks again
            self._more = len(rows) == self._batch_size
            self._left_nothing(idle=not self._more)
        return settled.count

    def _next_retry_delay(self) -> float:
        """The pause after a drain that left rows behind: `retry_delay`, doubling for each such
        drain in a row up to `max_retry_delay` (a missing stream may take a while to appear)."""
        delay = min(self._retry_delay * 2.0 ** min(self._retries, 16), self._max_retry_delay)
        self._retries += 1
        return delay

    def _nats_connected(self) -> bool:
        if self._nc.is_connected:
            if self._waiting_for_nats:
                self._waiting_for_nats = False
                log.info("outbox_nats_back")
            return True
        if not self._waiting_for_nats:
            self._waiting_for_nats = True
            log.warning("outbox_waiting_for_nats")
        return False

    async def _measure_while_disconnected(self) -> None:
        """Keep the backlog and lag true while nothing can be published (once a second at most:
        the count walks every unpublished row)."""
        now = time.monotonic()
        if now - self._backlog_counted_at < 1.0:
            return
        self._backlog_counted_at = now
        row = await self._pool.fetchrow(
            """SELECT count(*) AS waiting, min(created_at) AS oldest
               FROM outbox WHERE published_at IS NULL"""
        )
        assert row is not None
        OUTBOX_BACKLOG.set(row["waiting"])
        self._oldest = row["oldest"].timestamp() if row["oldest"] is not None else None

    def _note_missing_stream(self, stream: str | None) -> None:
        """Raise `outbox_relay_stream_missing` for the stream a drain stopped at, lower it for
        the ones it got past; log each change once."""
        found = self._missing_streams - {stream}
        for name in found:
            OUTBOX_STREAM_MISSING.labels(name).set(0)
            log.info("outbox_stream_found", stream=name)
        if stream is not None and stream not in self._missing_streams:
            OUTBOX_STREAM_MISSING.labels(stream).set(1)
            log.error("outbox_stream_missing", stream=stream)
        self._missing_streams = {stream} if stream is not None else set()

    async def _publish(self, rows: list[asyncpg.Record]) -> _Settled:
        """Publish rows pipelined, a row only after its aggregate's previous one was acked;
        return the batch's settled prefix (keeps outbox order)."""
        try:
            return await self._publish_batch(rows)
        finally:
            # Nothing of a batch stays pending on the relay's context: also not a publish whose
            # send raised after nats-py had taken its slot and registered its future (it never
            # gives that slot back; with all 4000 gone, `publish_async` would wait for ever).
            for future in list(self._js._publish_async_futures.values()):
                future.cancel()

    async def _publish_batch(self, rows: list[asyncpg.Record]) -> _Settled:
        max_payload = self._nc.max_payload
        dead: dict[int, tuple[str, str]] = {}
        futures: dict[int, asyncio.Future[Any]] = {}
        last_of: dict[str, asyncio.Future[Any]] = {}
        probing = False
        for row in rows:
            size = len(row["payload"])
            if size > max_payload:
                # Checked here: nats-py would raise after taking a pending-publish slot.
                dead[row["position"]] = (
                    "too_large",
                    f"{size} bytes, over the server's max_payload of {max_payload}",
                )
                continue
            previous = last_of.get(row["aggregate"]) if row["aggregate"] else None
            if previous is not None and not await self._acked(previous):
                break  # the aggregate's earlier event is not stored: nothing after it goes out
            # Checked first, so `publish_async` never waits for a slot nor buffers while
            # NATS is away: the rest of the batch is "not sent", and retried.
            if not self._nc.is_connected or self._js.publish_async_pending() >= self._max_pending:
                break
            try:
                future = await self._send(row)
            except (nats.errors.Error, OSError) as exc:
                _raise_if_cancelled()
                log.warning("outbox_publish_failed", error=repr(exc))
                break
            futures[row["position"]] = future
            if row["aggregate"]:
                last_of[row["aggregate"]] = future
            if row["stream"] in self._missing_streams:
                # A probe: the rows after it wait for its answer rather than being sent again
                # on every retry (after the 2-minute duplicate window, stored again).
                probing = True
                break
        if futures:
            await asyncio.wait(futures.values(), timeout=self._publish_timeout)
        settled, missing = _Settled(dead=dead), None
        for row in rows:
            position = row["position"]
            sent = futures.get(position)
            if position in dead:
                pass
            elif sent is None:
                missing = "not sent"
            elif not sent.done():
                missing = "no ack in time"
            elif sent.cancelled():
                missing = "cancelled"
            elif (error := sent.exception()) is not None:  # also marks it retrieved
                why = await self._why_not_stored(row, error)
                if why == "no_stream":
                    dead[position] = ("no_stream", f"stream {row['stream']} does not take it")
                elif why == "stream_missing":
                    settled.missing_stream = row["stream"]
                    missing = f"stream {row['stream']} does not exist"
                else:
                    missing = repr(error)
            if missing is not None:
                break
            settled.count += 1
        settled.dead = {
            p: d for p, d in dead.items() if p in {r["position"] for r in rows[: settled.count]}
        }
        if missing is not None and not (probing and missing == "not sent"):
            log.warning("outbox_ack_missing", error=missing, settled=settled.count, batch=len(rows))
            for future in futures.values():  # the failures after the first are retried too
                if future.done() and not future.cancelled():
                    future.exception()  # retrieved: asyncio would log each one as lost
        return settled

    async def _send(self, row: asyncpg.Record) -> asyncio.Future[Any]:
        headers = {**row["headers"], "Nats-Msg-Id": str(row["event_id"])}
        # No `wait_stall`: with one, nats-py takes its pending-publish semaphore through
        # asyncio.wait_for, which yields on every message, so its flusher writes each message
        # in a syscall of its own (a sixth of the throughput). `_publish_batch` checks for a
        # free slot first instead.
        return await self._js.publish_async(
            row["subject"], row["payload"], stream=row["stream"], headers=headers
        )

    async def _acked(self, future: asyncio.Future[Any]) -> bool:
        if not future.done():
            await asyncio.wait([future], timeout=self._publish_timeout)
        return future.done() and not future.cancelled() and future.exception() is None

    async def _why_not_stored(self, row: asyncpg.Record, error: BaseException) -> str | None:
        """Why JetStream refused the row: `no_stream` when no stream will ever take it (its
        stream exists but does not listen on its subject, or another stream holds the
        subject), `stream_missing` when its stream does not exist (declared late, or lost with
        NATS's volumes: the row waits for it); None for a failure a retry may get past."""
        no_stream = isinstance(error, nats.js.errors.NoStreamResponseError) or (
            isinstance(error, nats.js.errors.APIError) and error.err_code == _STREAM_MISMATCH
        )
        if not no_stream:
            return None
        try:
            info = await self._js.stream_info(row["stream"])
        except nats.js.errors.NotFoundError:
            return "stream_missing"
        except (nats.errors.Error, OSError):
            return None  # cannot tell now: retry later rather than lose the row
        if isinstance(error, nats.js.errors.APIError):
            return "no_stream"
        if any(subject_matches(p, row["subject"]) for p in info.config.subjects or []):
            return None  # it takes the subject (a leader election, say): retry
        return "no_stream"

    async def _dead_letter(self, conn: Connection, dead: dict[int, tuple[str, str]]) -> None:
        """Move rows that can never be published out of the outbox, with their reasons."""
        moved = await conn.fetch(
            """WITH gone AS (DELETE FROM outbox WHERE position = ANY($1::bigint[])
                             RETURNING *)
               INSERT INTO outbox_dead_letters (position, event_id, stream, subject, payload,
                   headers, created_at, reason, detail)
               SELECT g.position, g.event_id, g.stream, g.subject, g.payload, g.headers,
                      g.created_at, d.reason, d.detail
               FROM gone g JOIN unnest($1::bigint[], $2::text[], $3::text[])
                   AS d(position, reason, detail) ON d.position = g.position
               RETURNING position, event_id, subject, reason""",
            list(dead),
            [reason for reason, _ in dead.values()],
            [detail for _, detail in dead.values()],
        )
        for row in moved:
            OUTBOX_DEAD_LETTERS.labels(row["reason"]).inc()
            log.error(
                "outbox_dead_lettered",
                event_id=str(row["event_id"]),
                subject=row["subject"],
                reason=row["reason"],
            )

    async def _measure_backlog(self, conn: Connection, *, drained: bool, settled_all: bool) -> None:
        # A short batch that went out whole leaves nothing this transaction can see: the
        # backlog is 0 without counting (rows committed since are the next drain's, which
        # measures again). That is the common case, one event at a time, where the count was
        # one statement in six of a drain.
        if drained and settled_all:
            OUTBOX_BACKLOG.set(0)
            return
        # The count walks every unpublished row (and, until vacuum, the index entries of the
        # rows just marked): after every batch of a long drain it cost as much as the batch
        # itself, so a busy relay counts at most once a second.
        now = time.monotonic()
        if drained or now - self._backlog_counted_at >= 1.0:
            self._backlog_counted_at = now
            OUTBOX_BACKLOG.set(
                await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            )

    async def _after_publish(self, acked: int) -> None:
        """Seam for fault tests: the moment between JetStream's ack and the mark."""
