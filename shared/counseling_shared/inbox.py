"""The inbox consumer: JetStream → one transaction per batch → ack after commit (DESIGN §2, §4).

Each message runs in its own savepoint inside a batch transaction: its event id goes into the
`inbox` table (a redelivered message is skipped), the handler appends, projects and publishes on
the same connection, and the message is acked only after the commit. A message that cannot be
decoded, has an unknown type or version, or keeps failing is written to `dead_letters` (and to the
`dlq.<consumer>` subject) with its reason and terminated, so the messages after it still flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry import trace

from counseling_shared.clock import Clock
from counseling_shared.envelope import Envelope, EventDecodeError, EventRegistry
from counseling_shared.events import IntegrationEvent
from counseling_shared.jetstream import (
    REDRIVE_ORIGINAL_SUBJECT,
    ConsumerSpec,
    ensure_consumer,
    redrive_spec,
)
from counseling_shared.logs import get_logger
from counseling_shared.metrics import (
    DEAD_LETTERS,
    HANDLER_SECONDS,
    MESSAGES_CONSUMED,
    MESSAGES_DUPLICATE,
    MESSAGES_FAILED,
)
from counseling_shared.tracing import context_from_headers, tracer
from counseling_shared.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from counseling_shared.db import Connection

log = get_logger(__name__)

Handler = Callable[[UnitOfWork, Envelope, IntegrationEvent], Awaitable[None]]
"""A handler decides and writes through the unit of work; raising means "retry later"."""


class PermanentFailure(Exception):
    """Raised by a handler for a message that can never succeed: dead-letter it at once."""


@dataclass
class _Batch:
    """One fetched batch's transaction, and whether a message's savepoint is still open."""

    conn: Connection
    savepoint_open: bool = False


@dataclass
class _Outcome:
    msg: Msg
    action: str  # ack | nak | term
    delay: float = 0.0


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
    ) -> None:
        self.spec = spec
        self._pool = pool
        self._js = js
        self._handler = handler
        self._registry = registry
        self._source = source
        self._clock = clock
        self._batch_size = batch_size
        self._fetch_timeout = fetch_timeout
        self._tracer = tracer(f"{source}.consumer")
        self.bound = False
        self.redrive_bound = False

    async def run(self) -> None:
        await self._serve(self.spec, redriven=False)

    async def run_redriven(self) -> None:
        """Handle the dead letters an operator redrove (`counselctl dead-letters redrive`).

        They arrive on `dlq.redrive.<durable>` through a durable of their own on the DLQ stream
        and go through the same inbox and handler as the stream's messages.
        """
        await self._serve(redrive_spec(self.spec), redriven=True)

    async def _serve(self, spec: ConsumerSpec, *, redriven: bool) -> None:
        while True:
            try:
                await ensure_consumer(self._js, spec)
                sub = await self._js.pull_subscribe_bind(durable=spec.durable, stream=spec.stream)
                self._set_bound(redriven, True)
                try:
                    await self._consume(sub)
                finally:
                    # A pull subscription left behind (task cancelled at shutdown, or a rebind)
                    # holds `nc.drain()` for its whole 30 s timeout: let go of it.
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
            except (nats.errors.Error, OSError) as exc:
                self._set_bound(redriven, False)
                log.warning("consumer_unbound", consumer=spec.durable, error=repr(exc))
                await asyncio.sleep(1.0)

    def _set_bound(self, redriven: bool, bound: bool) -> None:
        if redriven:
            self.redrive_bound = bound
        else:
            self.bound = bound

    async def _consume(self, sub: JetStreamContext.PullSubscription) -> None:
        while True:
            try:
                msgs = await sub.fetch(self._batch_size, timeout=self._fetch_timeout)
            except TimeoutError:
                # nats' own TimeoutError, or a plain asyncio one that fetch raises when its
                # deadline runs out between requests: an idle poll, not an unbound consumer.
                continue
            await self.process_batch(msgs)

    async def process_batch(self, msgs: list[Msg]) -> None:
        """Handle a fetched batch in one transaction, then ack, nak or terminate each message."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                batch = _Batch(conn)
                outcomes = [await self._process(batch, msg) for msg in msgs]
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # Nothing committed: every message comes back after a short delay.
            log.warning("batch_rolled_back", consumer=self.spec.durable, error=repr(exc))
            outcomes = [_Outcome(m, "nak", self.spec.redelivery_delay(1)) for m in msgs]
        for outcome in outcomes:
            await self._settle(outcome)

    async def _process(self, batch: _Batch, msg: Msg) -> _Outcome:
        conn = batch.conn
        meta = msg.metadata
        delivered = meta.num_delivered
        try:
            envelope, event = self._registry.decode(msg.data)
        except EventDecodeError as exc:
            await self._dead_letter(conn, msg, exc.reason, str(exc), None)
            return _Outcome(msg, "term")

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
                    MESSAGES_DUPLICATE.labels(self.spec.durable).inc()
                    return _Outcome(msg, "ack")
                uow = UnitOfWork(conn, source=self._source, clock=self._clock, cause=envelope)
                await self._handler(uow, envelope, event)
                await uow.flush()
            except PermanentFailure as exc:
                await conn.execute("ROLLBACK TO SAVEPOINT inbox_message")
                span.record_exception(exc)
                await self._dead_letter(conn, msg, "rejected", str(exc), envelope)
                return _Outcome(msg, "term")
            except Exception as exc:
                await conn.execute("ROLLBACK TO SAVEPOINT inbox_message")
                span.record_exception(exc)
                MESSAGES_FAILED.labels(self.spec.durable).inc()
                if delivered >= self.spec.max_deliver:
                    detail = f"failed {delivered} times; last error: {exc!r}"
                    await self._dead_letter(conn, msg, "handler_failed", detail, envelope)
                    return _Outcome(msg, "term")
                log.warning(
                    "handler_failed",
                    consumer=self.spec.durable,
                    event_id=str(envelope.id),
                    delivered=delivered,
                    error=repr(exc),
                )
                return _Outcome(msg, "nak", self.spec.redelivery_delay(delivered))
            finally:
                HANDLER_SECONDS.labels(self.spec.durable).observe(time.perf_counter() - started)
        MESSAGES_CONSUMED.labels(self.spec.durable).inc()
        return _Outcome(msg, "ack")

    async def _claim(self, batch: _Batch, event_id: UUID) -> bool:
        """Open this message's savepoint and insert its inbox row: False when already seen.

        One round trip instead of four (savepoint, insert, handler, release were one each): the
        simple-query protocol takes several statements at once (the extended one behind `$1`
        does not) and reports the last one's status, `INSERT 0 1` for a new event. The savepoint
        stays open until the next message's claim or the batch's commit releases it, or a
        failure rolls back to it; the literals are a UUID and our own consumer name.
        """
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
        # A redriven message keeps the subject it was first published on.
        subject = (msg.headers or {}).get(REDRIVE_ORIGINAL_SUBJECT, msg.subject)
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
            detail[:2000],
            meta.num_delivered,
            msg.data,
            dict(msg.headers or {}),
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
            **dict(msg.headers or {}),
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


def dispatch(table: Mapping[type[IntegrationEvent], Handler]) -> Handler:
    """One consumer's routing table: event class → handler. Other types are acked and ignored."""

    async def route(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        handler = table.get(type(event))
        if handler is not None:
            await handler(uow, envelope, event)

    route.table = dict(table)  # type: ignore[attr-defined]  # for docs and tests
    return route
