"""followup-care's batch handler writes exactly what the per-message handlers write.

The same messages (new and known clients, a repeated and a late session, a no-show, a closure,
a paused client, a client followup never met; appointments booked, rescheduled and cancelled,
for clients with and without other events in the batch, one registered in the batch) run once
as the inbox's fast pass runs them one by one and once through the batch handler, each in a
transaction rolled back afterwards; every table, every event and every outbox row (the
published envelopes, with their correlation and causation ids) must be the same. Ids are made
deterministic by a seeded `os.urandom` (uuid4 reads it) so the two runs draw the same ones in
the same order."""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID, uuid4

import asyncpg
import pytest

from counseling_shared import inbox, outbox
from counseling_shared.clock import ControllableClock
from counseling_shared.codes import (
    CancelledBy,
    Channel,
    ClosureReason,
    GoalHorizon,
    Intensity,
    Modality,
    RiskLevel,
)
from counseling_shared.db import connect, create_pool
from counseling_shared.envelope import Envelope, wrap
from counseling_shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
    CareEpisodeClosed,
    ClientRegistered,
    IntegrationEvent,
    SessionCompleted,
    SessionMissed,
)
from counseling_shared.migrations import apply_migrations
from counseling_shared.tracing import (
    configure_tracing,
    context_from_headers,
    current_trace_headers,
    tracer,
)
from counseling_shared.unit_of_work import UnitOfWork
from followup.adapters.postgres_store import PostgresFollowupStore
from followup.bootstrap import MIGRATIONS
from followup.domain.durations import parse_duration
from followup.domain.policy import DEFAULT_POLICY
from followup.domain.preferences import FollowUpPreferences
from followup.entrypoints import consumers
from followup.entrypoints.care_batch import care_batch

if TYPE_CHECKING:
    from counseling_shared.db import Connection

pytestmark = pytest.mark.integration
NOW = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
SITE = UUID("00000000-0000-4000-8000-000000000001")
UNKNOWN_SITE = UUID("00000000-0000-4000-8000-000000000002")
KNOWN = UUID("00000000-0000-4000-8000-0000000000a1")  # in care, a check-in open
PAUSED = UUID("00000000-0000-4000-8000-0000000000a2")
NEW = UUID("00000000-0000-4000-8000-0000000000a3")  # registered in the batch
STRANGER = UUID("00000000-0000-4000-8000-0000000000a4")  # first seen in a session
BOOKER = UUID("00000000-0000-4000-8000-0000000000a5")  # first seen in a booking, of no site known
LONE = UUID("00000000-0000-4000-8000-0000000000a6")  # booked before; only a cancellation here
COUNSELOR = UUID("00000000-0000-4000-8000-0000000000c1")
TABLES = (
    "clients",
    "followup_preferences",
    "followups",
    "contact_regularity",
    "sites",
    "appointments",
)


@pytest.fixture(scope="module")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    conn = await connect(database_url)
    try:
        await apply_migrations(conn, MIGRATIONS)
    finally:
        await conn.close()
    db = await create_pool(database_url, max_size=2)
    yield db
    await db.close()


def _session(client_id: UUID, n: int, completed_at: datetime) -> SessionCompleted:
    return SessionCompleted(
        appointment_id=UUID(int=0x5E55 + n),
        site_id=SITE,
        client_id=client_id,
        counselor_id=COUNSELOR,
        completed_at=completed_at,
        goal_horizon=GoalHorizon.SHORT_TERM,
        risk_level=RiskLevel.NONE,
    )


def _booked(
    appointment: int,
    client_id: UUID,
    start: datetime,
    kind: type[AppointmentBooked] = AppointmentBooked,
    site_id: UUID = SITE,
) -> AppointmentBooked:
    """An appointment event of booking's; `kind` a reschedule (to `start`) or a cancellation."""
    fields: dict[str, Any] = {}
    if kind is AppointmentCancelled:
        fields = {"cancelled_by": CancelledBy.CLIENT, "late": False}
    return kind(
        appointment_id=UUID(int=0xB00C + appointment),
        site_id=site_id,
        client_id=client_id,
        counselor_id=COUNSELOR,
        room_id=None,
        start=start,
        end=start + timedelta(hours=1),
        modality=Modality.ONLINE,
        **fields,
    )


def _messages() -> list[tuple[Envelope, IntegrationEvent]]:
    events: list[IntegrationEvent] = [
        ClientRegistered(
            client_id=NEW,
            site_id=SITE,
            locale="fr",
            timezone="Europe/Paris",
            preferred_channel=Channel.EMAIL,
        ),
        _session(NEW, 1, NOW - timedelta(hours=2)),
        _booked(1, NEW, NOW + timedelta(days=5)),  # a client registered in this batch
        _session(KNOWN, 2, NOW - timedelta(hours=1)),  # re-plans its open check-in
        _session(KNOWN, 2, NOW - timedelta(hours=1)),  # the same session again (a new envelope)
        _session(KNOWN, 3, NOW - timedelta(days=3)),  # reported late: a rating request only
        _session(PAUSED, 4, NOW - timedelta(hours=1)),
        _session(STRANGER, 5, NOW - timedelta(hours=3)),
        _booked(2, KNOWN, NOW + timedelta(days=3)),
        _booked(1, NEW, NOW + timedelta(days=6), AppointmentRescheduled),  # booked in this batch
        # Three hours ahead: the one-day reminder's moment has passed, the two-hour one comes.
        _booked(3, BOOKER, NOW + timedelta(hours=3), site_id=UNKNOWN_SITE),
        # Back to the start it had before the batch: the reminders withdrawn by the first move
        # stay withdrawn (in the database), and this reschedule plans its own.
        _booked(4, KNOWN, NOW + timedelta(days=4), AppointmentRescheduled),
        _booked(5, PAUSED, NOW + timedelta(days=2)),  # paused: no reminders
        _booked(2, KNOWN, NOW + timedelta(days=3), AppointmentCancelled),  # booked in this batch
        _booked(6, LONE, NOW + timedelta(days=2), AppointmentCancelled),  # booked before
        SessionMissed(
            appointment_id=UUID(int=0x4155),
            site_id=SITE,
            client_id=NEW,
            counselor_id=COUNSELOR,
            start=NOW - timedelta(hours=1),
        ),
        CareEpisodeClosed(
            client_id=NEW,
            site_id=SITE,
            reason=ClosureReason.GOALS_MET,
            effective_on=date(2025, 6, 2),
            referred=False,
        ),
        _session(NEW, 6, NOW - timedelta(minutes=30)),  # re-engaged after the closure
    ]
    return [
        (wrap(e, source="booking", subject=SITE, event_id=UUID(int=i + 1), time=NOW), e)
        for i, e in enumerate(events)
    ]


async def _given(conn: Connection, clock: ControllableClock) -> None:
    """A site with a rating request policy; a client in care with a check-in and an
    appointment moved from its first start; a paused one; one with only a booking."""
    store = PostgresFollowupStore(conn)
    await store.save_site(SITE, "Europe/Paris", "fr", 1)
    policy = replace(DEFAULT_POLICY, satisfaction_survey_after=parse_duration("P1D"))
    await store.save_policy(SITE, policy, 1)
    uow = UnitOfWork(conn, source="followup", clock=clock)
    care = consumers.routes()[1].handler
    for client_id in (KNOWN, PAUSED):
        registered = ClientRegistered(
            client_id=client_id,
            site_id=SITE,
            locale="fr",
            timezone="Europe/Paris",
            preferred_channel=Channel.SMS,
        )
        envelope = wrap(registered, source="booking", subject=client_id)
        await care(uow, envelope, registered)
        earlier = _session(client_id, 0, NOW - timedelta(days=10))
        await care(uow, wrap(earlier, source="booking", subject=client_id), earlier)
    for event in (
        _booked(4, KNOWN, NOW + timedelta(days=4)),
        _booked(4, KNOWN, NOW + timedelta(days=7), AppointmentRescheduled),
        ClientRegistered(
            client_id=LONE,
            site_id=SITE,
            locale="fr",
            timezone="Europe/Paris",
            preferred_channel=Channel.SMS,
        ),
        _booked(6, LONE, NOW + timedelta(days=2)),
    ):
        await care(uow, wrap(event, source="booking", subject=SITE), event)
    paused = await store.client(PAUSED)
    assert paused is not None
    await store.save_client(
        replace(paused, preferences=FollowUpPreferences(intensity=Intensity.PAUSED))
    )
    await uow.flush()


async def _one_by_one(conn: Connection, clock: ControllableClock) -> None:
    """As the inbox's fast pass: a unit of work per message, the outbox rows written at once."""
    care = consumers.routes()[1].handler
    rows: list[outbox.OutboxRow] = []
    for envelope, event in _messages():
        uow = UnitOfWork(conn, source="followup", clock=clock, cause=envelope)
        await care(uow, envelope, event)
        await uow.flush(rows)
    await outbox.enqueue_rows(conn, rows)


async def _batched(conn: Connection, clock: ControllableClock) -> None:
    """As the inbox's fast pass with a batch handler: one call, one unit of work."""
    route = consumers.routes()[1]
    assert route.batch_handler is not None
    uow = UnitOfWork(conn, source="followup", clock=clock)
    await route.batch_handler(uow, _messages())
    await uow.flush()


def _batched_in_chunks(chunk: int) -> Callable[[Connection, ControllableClock], Awaitable[None]]:
    """As `_batched`, each run's writes sent every `chunk` messages while the next are handled."""

    async def batched(conn: Connection, clock: ControllableClock) -> None:
        handler = care_batch(consumers.routes()[1].handler, chunk=chunk)
        uow = UnitOfWork(conn, source="followup", clock=clock)
        await handler(uow, _messages())
        await uow.flush()

    return batched


async def _state_after(
    pool: asyncpg.Pool[Any], run: Callable[[Any, ControllableClock], Awaitable[None]], seed: int
) -> dict[str, list[dict[str, Any]]]:
    """Every table after `run`, in a transaction rolled back afterwards. Values the database
    stamps (its `now()`, transaction ids, sequence positions) are replaced by what they mean."""
    draw = random.Random(seed)
    real_urandom = os.urandom
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        os.urandom = lambda n: bytes(draw.getrandbits(8) for _ in range(n))
        try:
            clock = ControllableClock(NOW)
            await _given(conn, clock)
            await run(conn, clock)
            now = await conn.fetchval("SELECT now()")
            tables: dict[str, list[dict[str, Any]]] = {}
            for table in TABLES:
                rows = await conn.fetch(f"SELECT * FROM {table} ORDER BY {table}::text")
                tables[table] = [_plain(r, now) for r in rows]
            events = await conn.fetch("SELECT * FROM events ORDER BY position")
            tables["events"] = [
                _plain(r, now, drop=frozenset({"position", "txid"})) for r in events
            ]
            sent = await conn.fetch("SELECT * FROM outbox ORDER BY position")
            tables["outbox"] = [_plain(r, now, drop=frozenset({"position"})) for r in sent]
            return tables
        finally:
            os.urandom = real_urandom
            await tx.rollback()


def _plain(
    row: asyncpg.Record, now: datetime, drop: frozenset[str] = frozenset()
) -> dict[str, Any]:
    return {k: ("<now>" if v == now else v) for k, v in row.items() if k not in drop}


async def test_a_batch_writes_what_the_messages_write_one_by_one(
    pool: asyncpg.Pool[Any],
) -> None:
    one_by_one = await _state_after(pool, _one_by_one, seed=12)
    batched = await _state_after(pool, _batched, seed=12)
    assert one_by_one["followups"], "the messages planned follow-ups"
    assert len(one_by_one["outbox"]) >= 8, "the messages published events"
    reminders = [r for r in one_by_one["followups"] if r["kind"] == "reminder"]
    assert {(r["client_id"], r["status"], r["cancel_reason"]) for r in reminders} == {
        (NEW, "cancelled", "rescheduled"),  # moved in the batch
        # Planned for the new start; the closure keeps it (booking still holds the session).
        (NEW, "scheduled", None),
        (KNOWN, "cancelled", "appointment_cancelled"),  # booked and cancelled in the batch
        (KNOWN, "cancelled", "rescheduled"),  # moved before the batch
        (KNOWN, "scheduled", None),  # moved back to its first start in the batch: planned again
        (BOOKER, "scheduled", None),
        (LONE, "cancelled", "appointment_cancelled"),
    }, "the appointment events planned and withdrawn reminders"
    for table, rows in one_by_one.items():
        assert batched[table] == rows, table


@pytest.mark.parametrize("chunk", [1, 2, 3])
async def test_a_batch_written_in_chunks_writes_what_the_messages_write_one_by_one(
    pool: asyncpg.Pool[Any], chunk: int
) -> None:
    """A client's events fall in different chunks (its registration, sessions, no-show and
    closure are apart): each chunk's rows are written while the next chunk is handled."""
    one_by_one = await _state_after(pool, _one_by_one, seed=12)
    batched = await _state_after(pool, _batched_in_chunks(chunk), seed=12)
    for table, rows in one_by_one.items():
        assert batched[table] == rows, table


async def test_a_batch_wakes_the_schedulers_with_each_timer_it_sets(
    pool: asyncpg.Pool[Any],
) -> None:
    """The wakes go with the rows, as one by one: the check-in's due time on `followups_due`,
    the gap timer's on `contact_gaps_due`, delivered when the batch commits (a registration
    and a session: a run of one would go through the per-message handler)."""
    site_id, client_id = uuid4(), uuid4()
    heard: list[tuple[str, str]] = []
    async with pool.acquire() as listener:

        def hear(*args: Any) -> None:  # (connection, pid, channel, payload)
            heard.append((args[2], args[3]))

        for channel in ("followups_due", "contact_gaps_due"):
            await listener.add_listener(channel, hear)
        async with pool.acquire() as conn, conn.transaction():
            await PostgresFollowupStore(conn).save_site(site_id, "Europe/Paris", "fr", 1)
            session = SessionCompleted(
                appointment_id=uuid4(),
                site_id=site_id,
                client_id=client_id,
                counselor_id=COUNSELOR,
                completed_at=NOW,
                goal_horizon=GoalHorizon.SHORT_TERM,
                risk_level=RiskLevel.NONE,
            )
            route = consumers.routes()[1]
            assert route.batch_handler is not None
            registered = ClientRegistered(
                client_id=client_id,
                site_id=site_id,
                locale="fr",
                timezone="Europe/Paris",
                preferred_channel=Channel.SMS,
            )
            uow = UnitOfWork(conn, source="followup", clock=ControllableClock(NOW))
            await route.batch_handler(
                uow,
                [(wrap(e, source="booking", subject=site_id), e) for e in (registered, session)],
            )
            await uow.flush()
            checkin = await conn.fetchval(
                "SELECT due_at FROM followups WHERE client_id = $1 AND kind = 'checkin'", client_id
            )
            gap = await conn.fetchval(
                "SELECT due_at FROM contact_regularity WHERE id = $1", client_id
            )
        for _ in range(100):
            if len(heard) >= 2:
                break
            await asyncio.sleep(0.02)
        for channel in ("followups_due", "contact_gaps_due"):
            await listener.remove_listener(channel, hear)
    assert ("followups_due", checkin.isoformat()) in heard
    assert ("contact_gaps_due", gap.isoformat()) in heard


async def test_each_message_of_a_batch_is_handled_and_published_under_its_own_trace(
    pool: asyncpg.Pool[Any],
) -> None:
    """As the inbox runs it (each message's trace given): every outbox row and follow-up row
    a message made carries a span of that message's own trace (a child of what booking sent),
    whichever chunk it was handled in, not its neighbour's and not the batch's."""
    configure_tracing("followup", None)
    booking = tracer("booking")
    site_id = uuid4()
    sessions = [
        SessionCompleted(
            appointment_id=uuid4(),
            site_id=site_id,
            client_id=uuid4(),
            counselor_id=COUNSELOR,
            completed_at=NOW,
            goal_horizon=GoalHorizon.SHORT_TERM,
            risk_level=RiskLevel.NONE,
        )
        for _ in range(5)
    ]
    messages = [(wrap(s, source="booking", subject=s.appointment_id), s) for s in sessions]
    sent: dict[UUID, str] = {}  # envelope id -> the traceparent booking sent it with
    for envelope, _ in messages:
        with booking.start_as_current_span("publish"):
            sent[envelope.id] = current_trace_headers()["traceparent"]
    traces = {i: context_from_headers({"traceparent": parent}) for i, parent in sent.items()}
    by_client = {s.client_id: e.id for e, s in messages}
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await PostgresFollowupStore(conn).save_site(site_id, "Europe/Paris", "fr", 1)
            known = inbox._batch_traces.set((tracer("followup.consumer"), traces))
            try:
                uow = UnitOfWork(conn, source="followup", clock=ControllableClock(NOW))
                await care_batch(consumers.routes()[1].handler, chunk=2)(uow, messages)
                await uow.flush()
            finally:
                inbox._batch_traces.reset(known)
            published = await conn.fetch("SELECT payload, headers FROM outbox")
            planned = await conn.fetch(
                "SELECT client_id, trace_headers FROM followups WHERE site_id = $1", site_id
            )
        finally:
            await tx.rollback()
    made: list[tuple[UUID, str]] = [
        (cause, row["headers"]["traceparent"])
        for row in published
        if (cause := UUID(json.loads(row["payload"])["causationid"])) in sent
    ]
    assert len(made) == len(planned) == len(messages)
    made += [(by_client[r["client_id"]], r["trace_headers"]["traceparent"]) for r in planned]
    for cause, traceparent in made:
        _, trace_id, span_id, _ = traceparent.split("-")
        _, sent_trace, sent_span, _ = sent[cause].split("-")
        assert (trace_id, span_id != sent_span) == (sent_trace, True), cause


class _Counted:
    """A connection that keeps the text of each statement sent through it."""

    def __init__(self, conn: Connection, statements: list[str]) -> None:
        self._conn = conn
        self._statements = statements

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._conn, name)
        if name not in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
            return found

        async def counted(query: str, *args: Any, **kwargs: Any) -> Any:
            self._statements.append(query)
            return await found(query, *args, **kwargs)

        return counted


@pytest.mark.parametrize("clients", [3, 12])
async def test_a_batch_of_appointment_events_costs_the_same_statements_however_many(
    pool: asyncpg.Pool[Any], clients: int
) -> None:
    """Bookings, reschedules and cancellations go through the batch's load and writes: a batch
    costs the statements of 3 clients' events whatever their number (one by one, each message
    would cost its own look-ups and inserts)."""
    site_id = uuid4()
    client_ids = [uuid4() for _ in range(clients)]
    events: list[IntegrationEvent] = []
    for n, client_id in enumerate(client_ids):
        start = NOW + timedelta(days=3)
        events.append(_booked(0x100 + n, client_id, start, site_id=site_id))
        if n % 3 == 1:
            moved = start + timedelta(days=1)
            events.append(_booked(0x100 + n, client_id, moved, AppointmentRescheduled, site_id))
        elif n % 3 == 2:
            events.append(_booked(0x100 + n, client_id, start, AppointmentCancelled, site_id))
    statements: list[str] = []
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            clock = ControllableClock(NOW)
            await PostgresFollowupStore(conn).save_site(site_id, "Europe/Paris", "fr", 1)
            care = consumers.routes()[1].handler
            uow = UnitOfWork(conn, source="followup", clock=clock)
            for client_id in client_ids:
                registered = ClientRegistered(
                    client_id=client_id,
                    site_id=site_id,
                    locale="fr",
                    timezone="Europe/Paris",
                    preferred_channel=Channel.SMS,
                )
                await care(uow, wrap(registered, source="booking", subject=site_id), registered)
            await uow.flush()
            counted = _Counted(conn, statements)
            batch = UnitOfWork(cast(Any, counted), source="followup", clock=clock)
            await care_batch(care)(
                batch, [(wrap(e, source="booking", subject=site_id), e) for e in events]
            )
            await batch.flush()
            planned = await conn.fetch(
                "SELECT status, count(*) FROM followups WHERE site_id = $1 GROUP BY status",
                site_id,
            )
        finally:
            await tx.rollback()
    # Two reminders a booking; a move withdraws two and plans two; a cancellation withdraws two.
    moves, cancellations = (len(range(i, clients, 3)) for i in (1, 2))
    assert dict(planned) == {
        "scheduled": 2 * (clients - cancellations),
        "cancelled": 2 * (moves + cancellations),
    }
    # The sites, the clients' lock and rows, their follow-ups, their appointments; the events,
    # the follow-ups' and the appointments' rows, the outbox.
    assert len(statements) == 9, statements
