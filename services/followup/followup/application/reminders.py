"""Reminders before booked appointments (contract v2: kind `reminder`, policy
`appointment_reminders`, default one day and two hours before the start).

A booking plans one reminder per offset still ahead; a reschedule withdraws them and plans them
for the new start; a cancellation withdraws them; one falling due after its appointment started
is withdrawn instead (timers.py). Ids derive from the appointment, the offset and the start (and
for a reschedule, the reschedule's own event id), so a redelivered event plans nothing twice. The
durable timers are the follow-ups' own.

Every appointment event is also recorded (`domain.appointments`, followup's own streams), so
that resuming after a pause, and re-engaging after a closure, plan the reminders of the
appointments still booked and still ahead (`plan_reminders_ahead`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID, uuid5

from counseling_shared.codes import FollowUpKind
from counseling_shared.envelope import Envelope
from counseling_shared.events import AppointmentBooked, AppointmentCancelled, AppointmentRescheduled
from counseling_shared.eventstore import NewEvent
from counseling_shared.unit_of_work import UnitOfWork
from followup.application import changes
from followup.application.ports import FollowupStore
from followup.domain import appointments
from followup.domain.appointments import Appointment, AppointmentStatus, Slot
from followup.domain.client_care import ClientCare
from followup.domain.durations import CalendarDuration, add_in_zone
from followup.domain.followup import CancelReason

REMINDERS = frozenset({FollowUpKind.REMINDER})


def reminder_id(
    appointment_id: UUID, offset: CalendarDuration, start: datetime, moved_by: UUID | None = None
) -> UUID:
    name = f"reminder/{offset.isoformat()}/{start.isoformat()}"
    return uuid5(appointment_id, f"{name}/{moved_by}" if moved_by else name)


def moved_by(event: AppointmentBooked, cause: Envelope | None) -> UUID | None:
    """The reschedule whose reminders these are, if `event` is one. Moved back to a start it had
    before, an appointment needs new reminders: those ids were withdrawn by the first move, and a
    cancelled follow-up stays cancelled. A redelivered reschedule has the same event id."""
    return cause.id if isinstance(event, AppointmentRescheduled) and cause else None


async def record_appointment(
    uow: UnitOfWork,
    store: FollowupStore,
    appointment_id: UUID,
    decide: Callable[[Appointment | None], list[appointments.Event]],
) -> None:
    """Decide on the appointment as recorded and record the outcome (the caller holds the
    client's lock, which every writer of the client's appointments takes first)."""
    state = await store.appointment(appointment_id)
    events = decide(state)
    if not events:
        return
    await uow.append(
        appointments.stream_id(appointment_id),
        state.version if state else 0,
        [NewEvent(*appointments.to_record(e)) for e in events],
    )
    for event in events:
        state = appointments.evolve(state, appointment_id, event)
    assert state is not None
    await store.save_appointment(state)


async def appointment_ended(
    uow: UnitOfWork, store: FollowupStore, appointment_id: UUID, status: AppointmentStatus
) -> None:
    await record_appointment(uow, store, appointment_id, lambda s: appointments.end(s, status))


async def appointment_booked(
    uow: UnitOfWork, store: FollowupStore, event: AppointmentBooked
) -> None:
    client = await changes.learn_client(uow, store, event.client_id, event.site_id)
    cause = moved_by(event, uow.cause)
    recorded = appointments.AppointmentRecorded(
        event.client_id, event.site_id, event.counselor_id, event.start, cause, event.manage_url
    )
    decide = appointments.move if isinstance(event, AppointmentRescheduled) else appointments.book
    await record_appointment(uow, store, event.appointment_id, lambda s: decide(s, recorded))
    if client.preferences.paused:
        return  # recorded: resuming plans its reminders
    policy, _ = await store.policy(event.site_id)
    now = uow.now()
    for offset in policy.appointment_reminders:
        # "One day before" is the same wall-clock time the day before, in the client's zone.
        due = add_in_zone(event.start, offset.times(-1), client.zone)
        if due <= now:
            continue  # that reminder's moment has passed: the later ones still come
        await changes.plan(
            uow,
            store,
            client,
            FollowUpKind.REMINDER,
            due,
            session_id=event.appointment_id,
            counselor_id=event.counselor_id,
            appointment_start=event.start,
            manage_url=event.manage_url,  # booking's signed confirm-or-cancel link
            followup_id=reminder_id(event.appointment_id, offset, event.start, cause),
        )


async def plan_reminders_ahead(uow: UnitOfWork, store: FollowupStore, client: ClientCare) -> int:
    """Plan the reminders of the client's appointments still booked and still ahead, as the
    bookings would plan them now (moments already passed are skipped). A reminder open (or
    sent) is left alone; one withdrawn by a pause or a closure is planned again under the next
    id of its chain (`appointments.slot`), so a retried resume plans nothing twice."""
    if client.preferences.paused or client.site_id is None:
        return 0
    now = uow.now()
    planned = 0
    # The usual case, a reminder still open, needs no look-up by id (a batch loaded these).
    still_open = {
        (f.session_id, f.appointment_start, f.due_at)
        for f in await store.open_followups(client.client_id)
        if f.kind is FollowUpKind.REMINDER
    }
    for appointment in await store.booked_appointments(client.client_id, now):
        policy, _ = await store.policy(appointment.site_id)
        ahead = appointments.reminders_ahead(
            [appointment], policy.appointment_reminders, client.zone, now
        )
        for _, offset, due in ahead:
            start = appointment.start
            if (appointment.appointment_id, start, due) in still_open:
                continue
            followup_id = reminder_id(
                appointment.appointment_id, offset, start, appointment.moved_by
            )
            while (found := appointments.slot(await store.followup(followup_id))) is Slot.NEXT:
                followup_id = reminder_id(appointment.appointment_id, offset, start, followup_id)
            if found is Slot.TAKEN:
                continue
            made = await changes.plan(
                uow,
                store,
                client,
                FollowUpKind.REMINDER,
                due,
                session_id=appointment.appointment_id,
                counselor_id=appointment.counselor_id,
                appointment_start=start,
                manage_url=appointment.manage_url,
                followup_id=followup_id,
            )
            planned += made is not None
    return planned


async def withdraw_reminders(
    uow: UnitOfWork,
    store: FollowupStore,
    client_id: UUID,
    appointment_id: UUID,
    reason: CancelReason,
) -> None:
    for state in await store.open_followups(client_id):
        if state.kind is FollowUpKind.REMINDER and state.session_id == appointment_id:
            await changes.cancel(uow, store, state, reason)


async def appointment_rescheduled(
    uow: UnitOfWork, store: FollowupStore, event: AppointmentBooked
) -> None:
    await changes.learn_client(uow, store, event.client_id, event.site_id)  # locks the client
    await withdraw_reminders(
        uow, store, event.client_id, event.appointment_id, CancelReason.RESCHEDULED
    )
    await appointment_booked(uow, store, event)


async def appointment_cancelled(
    uow: UnitOfWork, store: FollowupStore, event: AppointmentCancelled
) -> None:
    await changes.learn_client(uow, store, event.client_id, event.site_id)
    await appointment_ended(uow, store, event.appointment_id, AppointmentStatus.CANCELLED)
    await withdraw_reminders(
        uow, store, event.client_id, event.appointment_id, CancelReason.APPOINTMENT_CANCELLED
    )
