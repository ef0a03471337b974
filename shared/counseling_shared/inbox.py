"""The inbox consumer: JetStream → one transaction per batch → ack after commit (docs/backbone.md).

Each fetched batch is one transaction: every message's event id goes into the `inbox` table (a
redelivered message is skipped), its handler appends, projects and publishes on the same
connection, and the messages are acked only after the commit. The batch runs without savepoints
first; if a handler raises, it is rolled back and replayed with a savepoint per message, so a
failing message rolls back alone. A route may also give a batch handler: it is called once
with the batch's fresh messages (one `executemany` instead of a round trip per event); if it
raises, the batch falls back to the per-message handler with a savepoint per message. A
message that cannot be decoded, has an unknown type or version, or keeps failing is written to
`dead_letters` (and to the `dlq.<consumer>` subject) with its reason and terminated, so the
messages after it still flow.

Faults are not deliveries (docs/reliability.md). JetStream never drops a message on its own (the
durable's `max_deliver` is unlimited); the consumer counts its handler failures itself, in
`inbox_failures`, and dead-letters a message once they reach `ConsumerSpec.max_deliver`. When
the batch fails outside its handlers (pool, claim, commit, a lost connection), nothing is
counted: the consumer keeps the batch in hand (its ack deadline extended with `in_progress`),
stops fetching, probes the database with a growing back-off, and replays the same batch once
it answers, however long the outage lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry import context as otel_context
from opentelemetry import trace

from counseling_shared import inbox_holds, outbox
from counseling_shared.clock import Clock
from counseling_shared.db import DATABASE_ERRORS
from counseling_shared.envelope import Envelope, EventDecodeError, EventRegistry
from counseling_shared.events import IntegrationEvent
from counseling_shared.jetstream import (
    PIN_GROUP,
    REDRIVE_ORIGINAL_SUBJECT,
    ConsumerSpec,
    ensure_consumer,
    redrive_spec,
)
from counseling_shared.logs import get_logger
from counseling_shared.metrics import (
    CONSUMER_WAITING,
    DEAD_LETTERS,
    HANDLER_SECONDS,
    INFRASTRUCTURE_FAILURES,
    MESSAGES_CONSUMED,
    MESSAGES_DUPLICATE,
    MESSAGES_FAILED,
)
from counseling_shared.pull import PIN_HEADER, Puller
from counseling_shared.tracing import context_from_headers, tracer
from counseling_shared.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from counseling_shared.db import Connection

log = get_logger(__name__)

Handler = Callable[[UnitOfWork, Envelope, IntegrationEvent], Awaitable[None]]
"""A handler decides and writes through the unit of work; raising means "retry later"."""

BatchHandler = Callable[[UnitOfWork, Sequence[tuple[Envelope, IntegrationEvent]]], Awaitable[None]]
"""Optional: handles a whole fetched batch's fresh messages at once, in stream order.

Called once per batch inside the batch's transaction, with a unit of work that has no single
cause (suits projections). Raising rolls the batch back and replays it through the per-message
`Handler`, a savepoint per message, so a poison message is still isolated and dead-lettered.
"""


# The consumer's tracer and the trace each fresh message of the batch being handled came with.
_batch_traces: contextvars.ContextVar[tuple[trace.Tracer, Mapping[UUID, Any]] | None] = (
    contextvars.ContextVar("inbox_batch_traces", default=None)
)


@contextlib.contextmanager
def message_span(envelope: Envelope) -> Iterator[None]:
    """In a batch handler: the span the per-message path would handle `envelope` in, a child
    of the trace the message came with, so what is written meanwhile (a timer's trace headers,
    outbox rows made here) continues that message's trace rather than the batch's."""
    batch = _batch_traces.get()
    if batch is None:
        yield
        return
    consumer, traces = batch
    # What `start_as_current_span` does, without its layers of context managers: a batch
    # handler makes a span per message, a fair share of a batched message's cost.
    span = consumer.start_span(
        f"handle {envelope.type}",
        context=traces.get(envelope.id),
        kind=trace.SpanKind.CONSUMER,
        attributes={"messaging.system": "nats", "messaging.message.id": str(envelope.id)},
    )
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield
    except Exception as exc:
        span.record_exception(exc)
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        otel_context.detach(token)
        span.end()


class SourceMismatch(EventDecodeError):
    """An event whose `source` is not the context of the subject it came on: a forgery, or a
    producer publishing outside its own subjects (docs/security.md, The bus)."""

    reason = "source_mismatch"


class PermanentFailure(Exception):
    """Raised by a handler for a message that can never succeed: dead-letter it at once."""


class HandlerTimedOut(Exception):
    """A handler ran over its time budget: a handler failure like any other."""


BATCH_ERRORS: tuple[type[Exception], ...] = (
    *DATABASE_ERRORS,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
)
"""What may end a batch outside its handlers; it is an infrastructure fault, never counted."""

_PROBE_ERRORS: tuple[type[Exception], ...] = (*BATCH_ERRORS, TimeoutError)

_CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.InternalClientError,  # a pooled connection whose server went away mid-operation
    ConnectionError,  # refused, reset, aborted (not TimeoutError: a handler's own budget)
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
)


def is_infrastructure_error(exc: BaseException) -> bool:
    """True when a handler failed because the database or NATS was unreachable: the message
    is not at fault, so the failure does not count towards its dead-letter limit."""
    return isinstance(exc, _CONNECTION_ERRORS)


OVERLOAD_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.QueryCanceledError,  # 57014: statement timeout
    asyncpg.LockNotAvailableError,  # 55P03: lock timeout
    asyncpg.DeadlockDetectedError,  # 40P01
    asyncpg.SerializationError,  # 40001
)
"""What a busy database answers: the statement failed, the next try may well succeed."""


def is_overload_error(exc: BaseException) -> bool:
    return isinstance(exc, OVERLOAD_ERRORS)


def _is_outage(exc: BaseException) -> bool:
    """Outside a handler: the database or NATS cannot be reached (a timeout included), or the
    server lacks resources (disk full, out of memory, an I/O error): nobody's message at fault."""
    if is_infrastructure_error(exc) or isinstance(exc, OSError):
        return True
    state = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, asyncpg.PostgresError) and state[:2] in {"53", "57", "58"}


def _message_at_fault(exc: BaseException) -> bool:
    """A refusal a message's own values may cause (data exception, integrity constraint,
    program limit such as a too-large row), as opposed to the database's set-up (a grant)."""
    state = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, asyncpg.PostgresError) and state[:2] in {"22", "23", "54"}


_REFUSALS_BEFORE_SPLIT = 2
"""A batch the database refused this many times in a row (answering meanwhile) is split."""


_Decoded = tuple[Envelope, IntegrationEvent] | EventDecodeError


class _BatchHandlerFailed(Exception):
    """The batch handler raised: the batch's transaction is rolled back."""


class _HandlerFailed(Exception):
    """A handler raised on a batch's fast pass: the batch's transaction is rolled back."""

    def __init__(self, event_id: UUID, error: Exception) -> None:
        super().__init__(repr(error))
        self.event_id = event_id
        self.error = error


@dataclass
class _Batch:
    """One fetched batch's transaction.

    Fast pass (`fresh` given): every inbox row was claimed by one statement and the handlers
    run without savepoints. Careful pass: a savepoint per message (`savepoint_open` says one is
    still open), and `failed` is the fast pass's failure, which its message keeps.
    """

    conn: Connection
    fresh: set[UUID] | None = None
    failed: _HandlerFailed | None = None
    savepoint_open: bool = False
    # Fast pass: every handler's outbox rows, written by one statement after the last one.
    outbox_rows: list[outbox.OutboxRow] = field(default_factory=list)
    # Messages held back (event id → nak delay): an earlier event of their subject is unsettled.
    held: Mapping[UUID, float] = field(default_factory=dict)
    # Messages that hold their own subject (they failed before): settled, they release it.
    holders: set[UUID] = field(default_factory=set)
    # Subjects whose event failed in this batch (→ nak delay for the later ones).
    failed_subjects: dict[str, float] = field(default_factory=dict)

    @property
    def fast(self) -> bool:
        return self.fresh is not None


@dataclass
class _Outcome:
    msg: Msg
    action: str  # ack | nak | term
    delay: float = 0.0
    handled: bool = False  # the handler ran and its writes are part of the commit
    envelope: Envelope | None = None


class InboxConsumer:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool[Any],
        js: JetStreamContext,
        spec: ConsumerSpec,
        handler: Handler,
        registry: EventRegistry,
        source: str,
        clock: Clock,
        batch_size: int = 64,
        fetch_timeout: float = 1.0,
        batch_handler: BatchHandler | None = None,
        handler_timeout: float = 30.0,
        outage_backoff: tuple[float, float] = (0.25, 10.0),
        standby_poll: float = 0.5,
    ) -> None:
        self.spec = spec
        self._pool = pool
        self._js = js
        self._handler = handler
        self._batch_handler = batch_handler
        self._registry = registry
        self._source = source
        self._clock = clock
        self._batch_size = batch_size
        self._fetch_timeout = fetch_timeout
        self._handler_timeout = handler_timeout
        self._outage_backoff = outage_backoff
        self._standby_poll = standby_poll
        self._tracer = tracer(f"{source}.consumer")
        self._consumed = MESSAGES_CONSUMED.labels(spec.durable)
        self._duplicates = MESSAGES_DUPLICATE.labels(spec.durable)
        self._failures = MESSAGES_FAILED.labels(spec.durable)
        self._handler_seconds = HANDLER_SECONDS.labels(spec.durable)
        self._infrastructure_failures = INFRASTRUCTURE_FAILURES.labels(spec.durable)
        self._waiting_gauge = CONSUMER_WAITING.labels(spec.durable)
        self.bound = False
        self.redrive_bound = False
        self.waiting = False
        """True while a batch waits for the database to answer again (not fetching)."""
        self._stopping = asyncio.Event()

    @property
    def ready(self) -> bool:
        """Bound to its durable and fetching (not waiting out an outage)."""
        return self.bound and not self.waiting

    async def run(self) -> None:
        await self._serve(self.spec, redriven=False)

    async def run_redriven(self) -> None:
        """Handle the dead letters an operator redrove (`counselctl dead-letters redrive`).

        They arrive on `dlq.redrive.<durable>` through a durable of their own on the DLQ stream
        and go through the same inbox and handler as the stream's messages.
        """
        await self._serve(redrive_spec(self.spec), redriven=True)

    async def _serve(self, spec: ConsumerSpec, *, redriven: bool) -> None:
        delay = self._outage_backoff[0]
        while not self._stopping.is_set():
            try:
                pinned = await ensure_consumer(self._js, spec)
                puller = Puller(
                    self._js._nc,  # the context keeps its client private
                    spec.stream,
                    spec.durable,
                    expires=self._fetch_timeout,
                    group=PIN_GROUP if pinned else None,
                    ack_wait=spec.ack_seconds,
                    standby_poll=spec.standby_seconds(self._standby_poll),
                )
                # A subscription left behind (task cancelled at shutdown, or a rebind) would
                # hold `nc.drain()` for its whole timeout: the puller lets go of it on exit.
                async with puller:
                    self._set_bound(redriven, True)
                    delay = self._outage_backoff[0]
                    await self._consume(puller, spec)
                self._set_bound(redriven, False)
            except (nats.errors.Error, OSError) as exc:
                self._set_bound(redriven, False)
                if self._stopping.is_set():
                    return
                log.warning(
                    "consumer_unbound", consumer=spec.durable, error=repr(exc), retry_in=delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._outage_backoff[1])

    def _set_bound(self, redriven: bool, bound: bool) -> None:
        if redriven:
            self.redrive_bound = bound
        else:
            self.bound = bound

    def stop_fetching(self) -> None:
        """Shutting down: fetch no more; the batch in hand finishes (`run` then returns).

        A fetch under way is let run out (at most `fetch_timeout`), so no message is left
        delivered to a request nobody reads (it would come back only after `ack_wait`)."""
        self._stopping.set()

    async def _consume(self, puller: Puller, spec: ConsumerSpec) -> None:
        try:
            while not self._stopping.is_set():
                # Back as soon as a message is there; empty after an idle `fetch_timeout`
                # (pinned), or at once and again after `standby_poll` (standing by).
                msgs = await puller.fetch(self._batch_size)
                if msgs:
                    keeper = asyncio.create_task(_keep_pin(puller, spec), name="inbox-keep-pin")
                    try:
                        await self.process_batch(msgs)
                    finally:
                        await _ended(keeper)
        finally:
            # Messages an earlier request brought after its fetch returned: straight back,
            # after the batch's own (nak'ed first when it was cancelled): in stream order.
            await _nak_now(puller.take_arrived())
            # Everything settled or given back: a standby takes the durable over now, and is
            # redelivered what was given back before anything newer.
            if self._stopping.is_set():
                await puller.unpin()

    async def process_batch(self, msgs: list[Msg]) -> None:
        """Handle a fetched batch in one transaction, then ack, nak or terminate each message.

        The batch first runs fast: one statement claims every inbox row and the handlers run
        back to back, one round trip each for a simple handler. If a handler raises, that
        transaction is rolled back and the batch replayed carefully, a savepoint per message;
        the failed message keeps its failure (its handler does not run twice in one delivery),
        the ones before it run again on a clean slate. With a batch handler, the fast pass calls
        it once for all fresh messages; if it raises, the batch is replayed carefully.

        If the batch fails outside its handlers, nothing is settled: the batch is kept and
        replayed (see `_outcomes`). Meanwhile (and during any long batch) JetStream hears
        `in_progress` for each message, so no message is redelivered to another replica or
        counted as a new delivery. Cancelled (shutdown past its deadline), the batch's unsettled
        messages are nak'ed at once, so another replica gets them without waiting `ack_wait`.
        """
        decoded = [self._decode(msg) for msg in msgs]
        keep_alive = asyncio.create_task(self._keep_alive(msgs), name="inbox-keep-alive")
        try:
            try:
                outcomes = await self._outcomes(msgs, decoded)
            finally:
                await _ended(keep_alive)
                self._set_waiting(False)
            self._consumed.inc(sum(o.handled for o in outcomes))
            for outcome in outcomes:
                await self._settle(outcome)
        except asyncio.CancelledError:
            await _nak_now(msgs)  # the settled ones refuse a second answer
            raise

    async def _outcomes(self, msgs: list[Msg], decoded: list[_Decoded]) -> list[_Outcome]:
        """The batch's committed outcomes, however many tries that takes.

        An outage (the database or NATS unreachable) is waited out with a growing back-off and
        the same batch replayed, however long it lasts; an overloaded database (a timeout, a
        deadlock) is given the same back-off. An error the database answers with, outside the
        handlers, may be one message's doing: a batch refused twice in a row is split and each
        message tried alone. A message refused alone for a value (a data or constraint error)
        is dead-lettered in a transaction of its own; refused for anything else (a missing
        grant, a missing table), or its dead letter refused too, it is nak'ed with the longest
        back-off: never lost, and the messages after it flow on. Nothing of this is counted as
        a handler failure.
        """
        delay = self._outage_backoff[0]
        refused = 0
        refusal: Exception | None = None
        while True:
            try:
                if refusal is not None and refused >= _REFUSALS_BEFORE_SPLIT:
                    if refused == _REFUSALS_BEFORE_SPLIT and _message_at_fault(refusal):
                        outcome = await self._unprocessable(msgs[0], decoded[0], refusal)
                    else:
                        outcome = self._put_back(msgs[0], decoded[0], refusal)
                    return [outcome]
                return await self._attempt(msgs, decoded)
            except BATCH_ERRORS as exc:
                self._infrastructure_failures.inc()
                log.warning(
                    "batch_rolled_back",
                    consumer=self.spec.durable,
                    messages=len(msgs),
                    error=repr(exc),
                )
                if is_overload_error(exc):
                    await asyncio.sleep(delay)
                elif _is_outage(exc) or not await self._database_answers():
                    await self._wait_for_database(delay)
                else:
                    refused += 1
                    refusal = refusal or exc
                    if refused >= _REFUSALS_BEFORE_SPLIT and len(msgs) > 1:
                        break
                    continue
                delay = min(delay * 2, self._outage_backoff[1])
        log.warning(
            "batch_split", consumer=self.spec.durable, messages=len(msgs), error=repr(refusal)
        )
        outcomes = []
        for msg, item in zip(msgs, decoded, strict=True):
            outcomes.extend(await self._outcomes([msg], [item]))
        return outcomes

    async def _unprocessable(self, msg: Msg, item: _Decoded, error: Exception) -> _Outcome:
        """A message the database refuses (outside its handler) even alone: a dead letter."""
        envelope = _envelope_of(item)
        detail = f"refused by the database outside the handler: {error!r}"
        async with self._pool.acquire() as conn, conn.transaction():
            await self._dead_letter(conn, msg, "unprocessable", detail, envelope)
            if envelope is not None:
                await self._forget_failures(conn, envelope)
                await inbox_holds.release(conn, self.spec.durable, [envelope.id])
        return _Outcome(msg, "term", envelope=envelope)

    def _put_back(self, msg: Msg, item: _Decoded, error: Exception) -> _Outcome:
        """A message that cannot be handled nor dead-lettered now (the database refuses it
        for a reason of its own): nak'ed with the longest back-off, until that is fixed."""
        delay = self.spec.backoff[-1]
        meta = msg.metadata
        log.error(
            "message_refused",
            consumer=self.spec.durable,
            stream=meta.stream,
            stream_seq=meta.sequence.stream,
            error=repr(error)[:500],
            retry_in=delay,
        )
        return _Outcome(msg, "nak", delay, envelope=_envelope_of(item))

    async def _attempt(self, msgs: list[Msg], decoded: list[_Decoded]) -> list[_Outcome]:
        """One try at the batch's transaction: its outcomes once it committed. Raises what
        made it fail outside its handlers."""
        async with self._pool.acquire() as conn:
            fast: _Batch | None = None
            try:
                async with conn.transaction():
                    fast = await self._fast_batch(conn, decoded)
                    if self._batch_handler is not None:
                        return await self._run_batch(fast, msgs, decoded)
                    return await self._run(fast, msgs, decoded)
            except (_BatchHandlerFailed, _HandlerFailed) as exc:
                assert fast is not None  # handlers run only after the claim
                failed = exc if isinstance(exc, _HandlerFailed) else None
                # The holds the fast pass read still apply (its claims were rolled back).
                careful = _Batch(conn, failed=failed, held=fast.held, holders=fast.holders)
                async with conn.transaction():
                    return await self._run(careful, msgs, decoded)

    async def _database_answers(self) -> bool:
        try:
            async with asyncio.timeout(5.0):
                await self._pool.fetchval("SELECT 1")
        except _PROBE_ERRORS:
            return False
        return True

    async def _wait_for_database(self, delay: float) -> None:
        """Sleep `delay`, then until the database answers, probing with a growing back-off."""
        self._set_waiting(True)
        while True:
            await asyncio.sleep(delay)
            try:
                async with asyncio.timeout(5.0):
                    await self._pool.fetchval("SELECT 1")
                return
            except _PROBE_ERRORS as exc:
                log.warning(
                    "consumer_waiting_for_database",
                    consumer=self.spec.durable,
                    error=repr(exc),
                    retry_in=delay,
                )
                delay = min(delay * 2, self._outage_backoff[1])

    def _set_waiting(self, waiting: bool) -> None:
        if waiting != self.waiting:
            self.waiting = waiting
            self._waiting_gauge.set(int(waiting))
            log.info(
                "consumer_paused" if waiting else "consumer_resumed", consumer=self.spec.durable
            )

    async def _keep_alive(self, msgs: list[Msg]) -> None:
        """Tell JetStream the batch is still being worked on, a few times per ack_wait."""
        while True:
            await asyncio.sleep(self.spec.ack_seconds / 3)
            for msg in msgs:
                # NATS may be down too: the message then comes back after ack_wait, which the
                # inbox makes harmless and which JetStream never counts towards dropping it.
                with contextlib.suppress(nats.errors.Error, OSError):
                    await msg.in_progress()

    def _decode(self, msg: Msg) -> _Decoded:
        try:
            envelope, event = self._registry.decode(msg.data)
        except EventDecodeError as exc:
            return exc
        # A redriven message is checked against the subject it was first published on.
        subject = (msg.headers or {}).get(REDRIVE_ORIGINAL_SUBJECT, msg.subject)
        context = subject.split(".", 1)[0]
        if envelope.source != context:
            return SourceMismatch(f"source {envelope.source[:40]!r} on a {context!r} subject")
        return envelope, event

    async def _run(self, batch: _Batch, msgs: list[Msg], decoded: list[_Decoded]) -> list[_Outcome]:
        outcomes = [await self._process(batch, m, d) for m, d in zip(msgs, decoded, strict=True)]
        await self._release_holds(batch, outcomes)
        if batch.fast:
            try:
                await outbox.enqueue_rows(batch.conn, batch.outbox_rows)
            except Exception as exc:
                if is_infrastructure_error(exc):
                    raise
                # Not one message's fault: the careful pass writes each message's rows alone.
                raise _BatchHandlerFailed(repr(exc)) from exc
        return outcomes

    async def _run_batch(
        self, batch: _Batch, msgs: list[Msg], decoded: list[_Decoded]
    ) -> list[_Outcome]:
        """The fast pass with a batch handler: dead letters, duplicates, then one call."""
        assert self._batch_handler is not None
        outcomes: list[_Outcome] = []
        fresh: list[tuple[Envelope, IntegrationEvent]] = []
        links: list[trace.Link] = []
        traces: dict[UUID, Any] = {}
        for msg, item in zip(msgs, decoded, strict=True):
            if isinstance(item, EventDecodeError):
                await self._dead_letter(batch.conn, msg, item.reason, str(item), None)
                outcomes.append(_Outcome(msg, "term"))
            elif item[0].id in batch.held:
                outcomes.append(_Outcome(msg, "nak", batch.held[item[0].id]))
            elif await self._claim(batch, item[0].id):
                fresh.append(item)
                outcomes.append(_Outcome(msg, "ack", handled=True, envelope=item[0]))
                traces[item[0].id] = context_from_headers(msg.headers)
                # The batch's span is linked to each message's trace (it has many parents).
                sent = trace.get_current_span(traces[item[0].id])
                if sent.get_span_context().is_valid:
                    link_attributes = {"messaging.message.id": str(item[0].id)}
                    links.append(trace.Link(sent.get_span_context(), link_attributes))
            else:
                self._duplicates.inc()
                outcomes.append(_Outcome(msg, "ack", envelope=item[0]))
        await self._release_holds(batch, outcomes)
        if not fresh:
            return outcomes
        with self._tracer.start_as_current_span(
            f"handle batch of {len(fresh)}",
            kind=trace.SpanKind.CONSUMER,
            links=links,
            attributes={
                "messaging.system": "nats",
                "messaging.consumer.group.name": self.spec.durable,
                "messaging.batch.message_count": len(fresh),
            },
        ) as span:
            started = time.perf_counter()
            known = _batch_traces.set((self._tracer, traces))
            try:
                uow = UnitOfWork(batch.conn, source=self._source, clock=self._clock)
                async with self._budget():
                    await self._batch_handler(uow, fresh)
                    await uow.flush()
            except Exception as exc:
                span.record_exception(exc)
                if is_infrastructure_error(exc):
                    raise
                log.warning(
                    "batch_handler_failed",
                    consumer=self.spec.durable,
                    messages=len(fresh),
                    error=repr(exc),
                )
                raise _BatchHandlerFailed(repr(exc)) from exc
            finally:
                _batch_traces.reset(known)
                self._handler_seconds.observe(time.perf_counter() - started)
        return outcomes

    async def _fast_batch(self, conn: Connection, decoded: list[_Decoded]) -> _Batch:
        """Claim the inbox rows of every decodable message in one statement, but the held
        ones' (`inbox_holds`): they are nak'ed unhandled, their rows left for the redelivery."""
        envelopes = [d[0] for d in decoded if not isinstance(d, EventDecodeError)]
        claim = await inbox_holds.claim(conn, self.spec.durable, envelopes)
        return _Batch(conn, fresh=claim.fresh, held=claim.held, holders=claim.holders)

    async def _release_holds(self, batch: _Batch, outcomes: list[_Outcome]) -> None:
        """The messages holding their subject that were settled now let it go (same commit)."""
        if not batch.holders:
            return
        settled = [
            o.envelope.id
            for o in outcomes
            if o.envelope is not None and o.envelope.id in batch.holders and o.action != "nak"
        ]
        if settled:
            await inbox_holds.release(batch.conn, self.spec.durable, settled)

    async def _process(self, batch: _Batch, msg: Msg, decoded: _Decoded) -> _Outcome:
        conn = batch.conn
        if isinstance(decoded, EventDecodeError):
            await self._dead_letter(conn, msg, decoded.reason, str(decoded), None)
            return _Outcome(msg, "term")
        envelope, event = decoded
        # Before the claim: a held message's inbox row must stay free for its redelivery.
        wait = batch.held.get(envelope.id, batch.failed_subjects.get(envelope.subject))
        if wait is not None:
            return _Outcome(msg, "nak", wait, envelope=envelope)

        parent = context_from_headers(msg.headers)
        with self._tracer.start_as_current_span(
            f"handle {envelope.type}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": msg.subject,
                "messaging.consumer.group.name": self.spec.durable,
                "messaging.message.id": str(envelope.id),
            },
        ) as span:
            started = time.perf_counter()
            try:
                if not await self._claim(batch, envelope.id):
                    self._duplicates.inc()
                    return _Outcome(msg, "ack", envelope=envelope)
                if batch.failed is not None and batch.failed.event_id == envelope.id:
                    raise batch.failed.error
                uow = UnitOfWork(conn, source=self._source, clock=self._clock, cause=envelope)
                async with self._budget():
                    await self._handler(uow, envelope, event)
                    # Made here, in the message's span, so each row keeps its own trace.
                    await uow.flush(batch.outbox_rows if batch.fast else None)
            except Exception as exc:
                span.record_exception(exc)
                if is_infrastructure_error(exc):
                    raise  # the whole batch waits for the database; the message is not at fault
                if batch.fast:
                    raise _HandlerFailed(envelope.id, exc) from exc
                await conn.execute("ROLLBACK TO SAVEPOINT inbox_message")
                outcome = await self._failed(conn, msg, envelope, exc)
                if outcome.action == "nak":
                    # Its subject's later events wait for it (stream order), in this batch and
                    # on every replica until it is settled.
                    await inbox_holds.hold(conn, self.spec.durable, envelope, outcome.delay)
                    batch.failed_subjects[envelope.subject] = (
                        outcome.delay + inbox_holds.HELD_MARGIN
                    )
                return outcome
            finally:
                self._handler_seconds.observe(time.perf_counter() - started)
        return _Outcome(msg, "ack", handled=True, envelope=envelope)

    @contextlib.asynccontextmanager
    async def _budget(self) -> AsyncIterator[None]:
        """The handler's time budget: over it, the message fails like any handler failure."""
        budget = asyncio.timeout(self._handler_timeout)
        try:
            async with budget:
                yield
        except TimeoutError as exc:
            if not budget.expired():
                raise  # the handler's own timeout (a request it made), reported as it is
            raise HandlerTimedOut(f"handler ran over its {self._handler_timeout} s budget") from exc

    async def _failed(
        self, conn: Connection, msg: Msg, envelope: Envelope, exc: Exception
    ) -> _Outcome:
        """A handler raised: count it, then retry the message later or dead-letter it.

        The count is written on the batch's connection after the message's savepoint was rolled
        back, so it commits with the batch: a batch that never commits (an infrastructure
        fault) counts nothing, and the handler's failure is counted again when it recurs.
        """
        if isinstance(exc, PermanentFailure):
            await self._forget_failures(conn, envelope)
            await self._dead_letter(conn, msg, "rejected", str(exc), envelope)
            return _Outcome(msg, "term", envelope=envelope)
        if self.spec.retry_overload and is_overload_error(exc):
            # The database is busy, the message is not at fault: retried, never dead-lettered.
            self._infrastructure_failures.inc()
            delivered = msg.metadata.num_delivered or 1
            log.warning(
                "handler_overloaded",
                consumer=self.spec.durable,
                event_id=str(envelope.id),
                deliveries=delivered,
                error=repr(exc),
            )
            return _Outcome(msg, "nak", self.spec.redelivery_delay(delivered), envelope=envelope)
        self._failures.inc()
        failures: int = await conn.fetchval(
            """INSERT INTO inbox_failures (consumer, event_id, failures) VALUES ($1, $2, 1)
               ON CONFLICT (consumer, event_id) DO UPDATE
               SET failures = inbox_failures.failures + 1, failed_at = now()
               RETURNING failures""",
            self.spec.durable,
            envelope.id,
        )
        if failures >= self.spec.max_deliver:
            await self._forget_failures(conn, envelope)
            detail = f"failed {failures} times; last error: {exc!r}"
            await self._dead_letter(conn, msg, "handler_failed", detail, envelope)
            return _Outcome(msg, "term", envelope=envelope)
        log.warning(
            "handler_failed",
            consumer=self.spec.durable,
            event_id=str(envelope.id),
            failures=failures,
            error=repr(exc),
        )
        return _Outcome(msg, "nak", self.spec.redelivery_delay(failures), envelope=envelope)

    async def _forget_failures(self, conn: Connection, envelope: Envelope) -> None:
        # A redriven dead letter starts a fresh count.
        await conn.execute(
            "DELETE FROM inbox_failures WHERE consumer = $1 AND event_id = $2",
            self.spec.durable,
            envelope.id,
        )

    async def _claim(self, batch: _Batch, event_id: UUID) -> bool:
        """Claim the message's inbox row (opening its savepoint when careful): False when seen.

        Careful pass: one round trip instead of three (savepoint, insert, release): the
        simple-query protocol takes several statements at once (the extended one behind `$1`
        does not) and reports the last one's status, `INSERT 0 1` for a new event. The
        savepoint stays open until the next message's claim or the batch's commit releases
        it, or a failure rolls back to it; the literals are a UUID and our own consumer name.
        """
        if batch.fresh is not None:
            if event_id not in batch.fresh:
                return False
            batch.fresh.discard(event_id)  # a second copy in the same batch is a duplicate
            return True
        release = "RELEASE SAVEPOINT inbox_message; " if batch.savepoint_open else ""
        consumer = self.spec.durable.replace("'", "''")
        status = await batch.conn.execute(
            f"""{release}SAVEPOINT inbox_message;
                INSERT INTO inbox (consumer, event_id) VALUES ('{consumer}', '{event_id}')
                ON CONFLICT DO NOTHING"""
        )
        batch.savepoint_open = True
        return status == "INSERT 0 1"

    async def _dead_letter(
        self,
        conn: Connection,
        msg: Msg,
        reason: str,
        detail: str,
        envelope: Envelope | None,
    ) -> None:
        meta = msg.metadata
        # What PostgreSQL refuses to store (a NUL, in text or jsonb) is left out, and the
        # record says so: a dead letter that cannot be written would stall the durable.
        delivered = {k: v for k, v in (msg.headers or {}).items() if k != PIN_HEADER}
        headers, dropped = _storable_headers(delivered)
        if dropped:
            detail = f"{detail} (headers not stored, unstorable: {', '.join(dropped)})"
        detail = _storable(detail[:2000])
        # A redriven message keeps the subject it was first published on.
        subject = _storable(headers.get(REDRIVE_ORIGINAL_SUBJECT, msg.subject))
        await conn.execute(
            """INSERT INTO dead_letters (consumer, stream, stream_seq, subject, event_id,
                   event_type, reason, detail, deliveries, payload, headers)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
               ON CONFLICT (consumer, stream, stream_seq) DO NOTHING""",
            self.spec.durable,
            meta.stream,
            meta.sequence.stream,
            subject,
            envelope.id if envelope else None,
            envelope.type if envelope else None,
            reason,
            detail,
            meta.num_delivered,
            msg.data,
            headers,
        )
        DEAD_LETTERS.labels(self.spec.durable, reason).inc()
        log.error(
            "dead_lettered",
            consumer=self.spec.durable,
            subject=subject,
            stream_seq=meta.sequence.stream,
            reason=reason,
            detail=detail[:500],
        )
        headers = {
            **headers,
            "Nats-Msg-Id": f"{self.spec.durable}:{meta.stream}:{meta.sequence.stream}",
            "Dlq-Reason": reason,
            REDRIVE_ORIGINAL_SUBJECT: subject,
        }
        # The table is the record; the DLQ subject is a convenience for tooling, best effort.
        with contextlib.suppress(nats.errors.Error, OSError, TimeoutError):
            await self._js.publish(
                f"dlq.{self._source}.{self.spec.durable}", msg.data, headers=headers, timeout=2.0
            )

    async def _settle(self, outcome: _Outcome) -> None:
        try:
            if outcome.action == "ack":
                await outcome.msg.ack()
            elif outcome.action == "nak":
                await outcome.msg.nak(delay=outcome.delay)
            else:
                await outcome.msg.term()
        except (nats.errors.Error, OSError) as exc:
            # The message will be redelivered after ack_wait; the inbox makes that harmless.
            log.warning("settle_failed", consumer=self.spec.durable, error=repr(exc))


async def _ended(helper: asyncio.Task[None]) -> None:
    """Cancel a helper task and wait for its end, without swallowing a cancellation of our own
    (`suppress(CancelledError)` around `await helper` would: a consumer cancelled at that
    moment kept fetching, and a bench awaiting it hung)."""
    helper.cancel()
    await asyncio.wait([helper])


async def _keep_pin(puller: Puller, spec: ConsumerSpec) -> None:
    """While a batch is in hand (however long: an outage is waited out with it), keep the
    durable's pin, so no standby is handed the messages after it meanwhile."""
    while True:
        await asyncio.sleep(spec.pin_seconds / 4)
        with contextlib.suppress(nats.errors.Error, OSError):
            await puller.keep_pin()


def dispatch(table: Mapping[type[IntegrationEvent], Handler]) -> Handler:
    """One consumer's routing table: event class → handler. Other types are acked and ignored."""

    async def route(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        handler = table.get(type(event))
        if handler is not None:
            await handler(uow, envelope, event)

    route.table = dict(table)  # type: ignore[attr-defined]  # for docs and tests
    return route


def _envelope_of(item: _Decoded) -> Envelope | None:
    return None if isinstance(item, EventDecodeError) else item[0]


async def _nak_now(msgs: Sequence[Msg]) -> None:
    """Give back messages fetched but not settled, for redelivery at once (shutdown)."""
    for msg in msgs:
        # Already settled, or NATS away: it comes back after ack_wait, harmless either way.
        with contextlib.suppress(nats.errors.Error, OSError):
            await msg.nak()


def _storable(text: str) -> str:
    """`text` as PostgreSQL's text and jsonb take it: no NUL, valid UTF-8."""
    return text.replace("\x00", "\\0").encode("utf-8", "backslashreplace").decode("utf-8")


def _storable_headers(headers: Mapping[str, str] | None) -> tuple[dict[str, str], list[str]]:
    """The headers PostgreSQL can store as they are, and the names of those it cannot."""
    kept: dict[str, str] = {}
    dropped: list[str] = []
    for name, value in (headers or {}).items():
        if _storable(name) == name and _storable(value) == value:
            kept[name] = value
        else:
            dropped.append(_storable(name)[:100])
    return kept, dropped
