"""followup-care's batch handler: a fetched batch's booking events with a few statements.

Runs of two or more of the events below (the clients', sessions', closures' and appointments')
are handled together (`BatchStore`: one load, one write); a run of one, and any other event,
goes through the per-message handler, in its place, so each client's events keep the stream's
order. As in the inbox's per-message fast pass, each message is handled in its own span (a
child of the trace it came with), its events are published under it (their correlation and
causation ids) and made into outbox rows there, and every row is written at the end. If
anything raises, the inbox rolls the batch back and replays it message by message (the
per-message handlers).

A run's writes are sent every `chunk` messages, while the handlers go on with the next ones:
PostgreSQL writes one chunk while this process handles the next (two cores instead of taking
turns). The handlers read only what `BatchStore.load` loaded and their own writes kept in
memory, never the rows being written, and the chunks are written in message order, one at a
time, so the rows are those of one write at the end (a chunk's statements are the regrouped
statements of its messages, `BatchStore`'s argument)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

from counseling_shared import outbox
from counseling_shared.envelope import Envelope
from counseling_shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
    CareEpisodeClosed,
    ClientContactChanged,
    ClientRegistered,
    IntegrationEvent,
    SessionCompleted,
    SessionMissed,
)
from counseling_shared.inbox import Handler, message_span
from counseling_shared.unit_of_work import UnitOfWork
from followup.adapters.batch_store import BatchStore, BatchUnitOfWork
from followup.application import booking_events, care_plan, reminders
from followup.application.ports import FollowupStore

# The handlers that read and write only what `BatchStore.load` loads for their event.
BATCHED: dict[type[IntegrationEvent], Callable[[UnitOfWork, FollowupStore, Any], Awaitable[None]]]
BATCHED = {
    ClientRegistered: booking_events.client_registered,
    ClientContactChanged: booking_events.client_contact_changed,
    SessionCompleted: booking_events.session_completed,
    SessionMissed: booking_events.session_missed,
    CareEpisodeClosed: booking_events.care_episode_closed,
    AppointmentBooked: reminders.appointment_booked,
    AppointmentRescheduled: reminders.appointment_rescheduled,
    AppointmentCancelled: reminders.appointment_cancelled,
}
# The events whose handlers read the client's contact regularity, and those that read the
# client's open follow-ups (the others skip those loads).
_READ_REGULARITY = (SessionCompleted, CareEpisodeClosed)
_READ_OPEN = (SessionCompleted, CareEpisodeClosed, AppointmentRescheduled, AppointmentCancelled)
# The events whose handlers record their appointment (`domain.appointments`).
_NAME_APPOINTMENT = (SessionCompleted, SessionMissed, AppointmentBooked)

Message = tuple[Envelope, IntegrationEvent]


CHUNK = 64
"""Messages handled between two writes: each write costs a few round trips."""
_YIELD_EVERY = 8
"""Messages handled between two turns of the event loop, so the chunk being written moves on
to its next statement (the handlers never wait on anything)."""


def care_batch(
    one_by_one: Handler, chunk: int = CHUNK
) -> Callable[[UnitOfWork, Sequence[Message]], Awaitable[None]]:
    """The batch handler; `one_by_one` (the route's handler) takes the events not batched."""

    async def handle_batch(uow: UnitOfWork, messages: Sequence[Message]) -> None:
        rows: list[outbox.OutboxRow] = []
        run: list[Message] = []
        for envelope, event in messages:
            if type(event) in BATCHED:
                run.append((envelope, event))
                continue
            await handle_run(uow, run, rows)
            run = []
            await _alone(uow, one_by_one, envelope, event, rows)
        await handle_run(uow, run, rows)
        await outbox.enqueue_rows(uow.conn, rows)

    async def handle_run(
        uow: UnitOfWork, run: Sequence[Message], rows: list[outbox.OutboxRow]
    ) -> None:
        if len(run) == 1:
            # One message costs fewer statements on its own than a run's loads and writes (a
            # booking: 5 against 6, and cheaper ones for PostgreSQL): the paced load's case.
            await _alone(uow, one_by_one, *run[0], rows)
        else:
            await _handle_run(uow, run, rows, chunk)

    return handle_batch


async def _alone(
    uow: UnitOfWork,
    one_by_one: Handler,
    envelope: Envelope,
    event: IntegrationEvent,
    rows: list[outbox.OutboxRow],
) -> None:
    """One message through its per-message handler, in its own span and unit of work."""
    alone = UnitOfWork(uow.conn, source=uow.source, clock=uow.clock, cause=envelope)
    with message_span(envelope):
        await one_by_one(alone, envelope, event)
        await alone.flush(rows)


async def _handle_run(
    uow: UnitOfWork, run: Sequence[Message], rows: list[outbox.OutboxRow], chunk: int
) -> None:
    if not run:
        return
    store = BatchStore(uow.conn)
    clients, sites = zip(*(_client_and_site(event) for _, event in run), strict=True)
    await store.load_sites(sites)
    await store.load(
        clients,
        _satisfaction_ids(run) + await _reminder_ids(store, run),
        open_of=[event.client_id for _, event in run if isinstance(event, _READ_OPEN)],
        regularity=any(isinstance(event, _READ_REGULARITY) for _, event in run),
        appointment_ids=[
            event.appointment_id for _, event in run if isinstance(event, _NAME_APPOINTMENT)
        ],
        # A session after a closure plans the reminders of the client's booked appointments.
        booked_of=[event.client_id for _, event in run if isinstance(event, SessionCompleted)],
    )
    batch = BatchUnitOfWork(uow)
    writing: asyncio.Task[None] | None = None
    try:
        for number, (envelope, event) in enumerate(run, start=1):
            with message_span(envelope), batch.caused_by(envelope):
                await BATCHED[type(event)](batch, store, event)
                await batch.flush(rows)  # the outbox rows only: the appends wait for `write`
            if number % chunk == 0 and number < len(run):
                if writing is not None:
                    await writing  # one chunk on the connection at a time, in order
                writing = asyncio.create_task(store.take(batch).write(uow.conn))
            elif writing is not None and number % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
        if writing is not None:
            await writing
        writing = None
        await store.write(batch)
    finally:
        if writing is not None:  # failing: the connection is free before the rollback
            await asyncio.gather(writing, return_exceptions=True)


def _satisfaction_ids(run: Sequence[Message]) -> list[UUID]:
    return [
        care_plan.satisfaction_id(event.appointment_id)
        for _, event in run
        if isinstance(event, SessionCompleted)
    ]


async def _reminder_ids(store: BatchStore, run: Sequence[Message]) -> list[UUID]:
    """The reminders a booking or a reschedule may plan (its site's policy's offsets): they
    may exist already (a redelivered event), and `plan` decides on their state."""
    ids: list[UUID] = []
    for envelope, event in run:
        if type(event) in (AppointmentBooked, AppointmentRescheduled):
            assert isinstance(event, AppointmentBooked)
            policy, _ = await store.policy(event.site_id)
            moved_by = reminders.moved_by(event, envelope)
            ids += (
                reminders.reminder_id(event.appointment_id, offset, event.start, moved_by)
                for offset in policy.appointment_reminders
            )
    return ids


def _client_and_site(event: IntegrationEvent) -> tuple[UUID, UUID]:
    assert isinstance(
        event,
        ClientRegistered
        | ClientContactChanged
        | SessionCompleted
        | SessionMissed
        | CareEpisodeClosed
        | AppointmentBooked,  # its reschedules and cancellations too
    )
    return event.client_id, event.site_id
