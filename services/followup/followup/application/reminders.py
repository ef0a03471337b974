"""Reminders before booked appointments (contract v2: kind `reminder`, policy
`appointment_reminders`, default one day and two hours before the start).

A booking plans one reminder per offset still ahead; a reschedule withdraws them and plans them
for the new start; a cancellation withdraws them; one falling due after its appointment started
is withdrawn instead (timers.py). Ids derive from the appointment, the offset and the start (and
for a reschedule, the reschedule's own event id), so a redelivered event plans nothing twice. The
durable timers are the follow-ups' own.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from counseling_shared.codes import FollowUpKind
from counseling_shared.envelope import Envelope
from counseling_shared.events import AppointmentBooked, AppointmentCancelled, AppointmentRescheduled
from counseling_shared.unit_of_work import UnitOfWork
from followup.application import changes
from followup.application.ports import FollowupStore
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


async def appointment_booked(
    uow: UnitOfWork, store: FollowupStore, event: AppointmentBooked
) -> None:
    client = await changes.learn_client(uow, store, event.client_id, event.site_id)
    if client.preferences.paused:
        return
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
            followup_id=reminder_id(
                event.appointment_id, offset, event.start, moved_by(event, uow.cause)
            ),
        )


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
    await withdraw_reminders(
        uow, store, event.client_id, event.appointment_id, CancelReason.APPOINTMENT_CANCELLED
    )
