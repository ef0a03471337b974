"""Record the appointments booked before followup kept them (`counselctl followups
backfill-appointments`, docs/operator-cli.md): run once after upgrading to the version with the
`appointments` projection (migration 0007), so a pause and resume plans their reminders again.

booking's appointment events still in the BOOKING stream (90 days, `EVENT_STREAM_MAX_AGE`) are
read from its start by an ephemeral consumer of this command's own, not through followup-care:
their event ids are already in followup's inbox, which would drop them as duplicates, and
handling them again would plan reminders again. They are folded in memory into each
appointment's last state; one still booked that followup does not hold is recorded as one
`AppointmentRecorded` on its `appointment-<id>` stream, with the start, reschedule and link of
its last booking event, under the client's lock like followup-care's writes. One followup holds
already is left alone (followup-care keeps it current), and so is one of a client followup does
not know (never met, or erased). Running it again records nothing new.

The fold's snapshot ages while the appointments are written: followup-care, running meanwhile,
drops the end of an appointment it has not recorded yet (`appointments.end`). So once the
appointments are written, the stream's later events are read too, and the ends of appointments
this run recorded are recorded (`end` records an end once).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from counseling_shared.clock import SystemClock
from counseling_shared.envelope import REGISTRY, EventDecodeError
from counseling_shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
    IntegrationEvent,
    SessionCompleted,
    SessionMissed,
)
from counseling_shared.unit_of_work import UnitOfWork
from followup.adapters.postgres_store import PostgresFollowupStore
from followup.application import reminders
from followup.domain import appointments
from followup.domain.appointments import AppointmentRecorded, AppointmentStatus

if TYPE_CHECKING:
    from counseling_shared.db import Connection

STREAM = "BOOKING"
SUBJECTS = [
    f"booking.*.{kind.__name__}"
    for kind in (
        AppointmentBooked,
        AppointmentRescheduled,
        AppointmentCancelled,
        SessionCompleted,
        SessionMissed,
    )
]
_BATCH = 500


@dataclass
class Fold:
    """Each appointment's last state in booking's events: its latest booking or reschedule, or
    the way it ended (an ended appointment stays ended, as in `appointments.move`)."""

    booked: dict[UUID, AppointmentRecorded] = field(default_factory=dict)
    ended: dict[UUID, AppointmentStatus] = field(default_factory=dict)

    def apply(self, event_id: UUID, event: IntegrationEvent) -> None:
        appointment_id = getattr(event, "appointment_id", None)
        if appointment_id is None or appointment_id in self.ended:
            return
        ended = _ending(event)
        if ended is not None:
            self.booked.pop(appointment_id, None)
            self.ended[appointment_id] = ended
        elif isinstance(event, AppointmentBooked):
            moved = isinstance(event, AppointmentRescheduled)
            if moved or appointment_id not in self.booked:
                self.booked[appointment_id] = AppointmentRecorded(
                    event.client_id,
                    event.site_id,
                    event.counselor_id,
                    event.start,
                    event_id if moved else None,  # its reminders' ids name the reschedule
                    event.manage_url,
                )


def _ending(event: IntegrationEvent) -> AppointmentStatus | None:
    if isinstance(event, AppointmentCancelled):
        return AppointmentStatus.CANCELLED
    if isinstance(event, SessionCompleted):
        return AppointmentStatus.COMPLETED
    if isinstance(event, SessionMissed):
        return AppointmentStatus.NO_SHOW
    return None


async def backfill_appointments(conn: Connection, js: JetStreamContext) -> Mapping[str, int]:
    """Record the booked appointments followup lacks; the counts of what it read and did."""
    counts = dict.fromkeys(
        (
            "events",
            "undecodable",
            "recorded",
            "held_already",
            "client_unknown",
            "ended",
            "ended_since",
        ),
        0,
    )
    async with _reader(js) as read:
        fold = Fold()
        async for event_id, event in read(await _last_sequence(js), counts):
            fold.apply(event_id, event)
        counts["ended"] = len(fold.ended)
        recorded: set[UUID] = set()
        for appointment_id, booked in fold.booked.items():
            outcome = await _record(conn, appointment_id, booked)
            counts[outcome] += 1
            if outcome == "recorded":
                recorded.add(appointment_id)
        # What followup-care may have dropped while the snapshot aged (see the docstring).
        async for _, event in read(await _last_sequence(js), counts):
            ended = _ending(event)
            ending = getattr(event, "appointment_id", None)
            if ended is not None and ending in recorded:
                counts["ended_since"] += await _end(conn, event, ending, ended)
    return counts


async def _record(conn: Connection, appointment_id: UUID, booked: AppointmentRecorded) -> str:
    async with conn.transaction():
        store = PostgresFollowupStore(conn)
        if await store.client(booked.client_id, for_update=True) is None:
            return "client_unknown"
        if await store.appointment(appointment_id) is not None:
            return "held_already"
        uow = UnitOfWork(conn, source="followup", clock=SystemClock())
        await reminders.record_appointment(
            uow, store, appointment_id, lambda state: appointments.book(state, booked)
        )
    return "recorded"


async def _end(
    conn: Connection, event: IntegrationEvent, appointment_id: UUID, ended: AppointmentStatus
) -> int:
    client_id: UUID = getattr(event, "client_id")  # noqa: B009 (every ending names its client)
    async with conn.transaction():
        store = PostgresFollowupStore(conn)
        await store.client(client_id, for_update=True)
        before = await store.appointment(appointment_id)
        uow = UnitOfWork(conn, source="followup", clock=SystemClock())
        await reminders.appointment_ended(uow, store, appointment_id, ended)
        after = await store.appointment(appointment_id)
    return int(before != after)


async def _last_sequence(js: JetStreamContext) -> int:
    return (await js.stream_info(STREAM)).state.last_seq


Read = Callable[[int, dict[str, int]], AsyncIterator[tuple[UUID, IntegrationEvent]]]


@contextlib.asynccontextmanager
async def _reader(js: JetStreamContext) -> AsyncIterator[Read]:
    """`read(until, counts)`: the appointment events after those already read, up to stream
    sequence `until` (or the last there is), through an ephemeral consumer deleted afterwards."""
    name = f"followup-backfill-{uuid4().hex}"
    await js.add_consumer(
        STREAM,
        ConsumerConfig(
            name=name,
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL,
            filter_subjects=SUBJECTS,
            mem_storage=True,
            inactive_threshold=60.0,  # gone by itself should the command die first
        ),
    )
    sub = await js.pull_subscribe_bind(name, stream=STREAM)
    position = 0

    async def read(
        until: int, counts: dict[str, int]
    ) -> AsyncIterator[tuple[UUID, IntegrationEvent]]:
        nonlocal position
        while position < until:
            try:
                batch = await sub.fetch(_BATCH, timeout=2.0)
            except nats.errors.TimeoutError:
                if (await sub.consumer_info()).num_pending == 0:
                    return  # nothing left that matches, up to `until`
                continue
            for msg in batch:
                position = msg.metadata.sequence.stream
                counts["events"] += 1
                try:
                    envelope, event = REGISTRY.decode(msg.data)
                except EventDecodeError:
                    counts["undecodable"] += 1
                    continue
                yield envelope.id, event
            if batch[-1].metadata.num_pending == 0:
                return

    try:
        yield read
    finally:
        with contextlib.suppress(nats.errors.Error):
            await sub.unsubscribe()
        with contextlib.suppress(nats.errors.Error):
            await js.delete_consumer(STREAM, name)
