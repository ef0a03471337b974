"""A client's C/X reply to a reminder text, applied as the manage page applies its buttons.

notify maps the reply to the most recent reminder sent to that number and asks booking
(`sms_reply_responder`) with the appointment, client and start that reminder named. The
page's rules hold: only the client's own appointment, only at the start the reminder named (a
reschedule sent a new one, as a manage link minted for another start is refused), nothing on
one cancelled, started, completed or missed; confirm once; a cancellation by the client with
`cancellation_terms`, and a late one only once its fee was announced (the client's second X,
`announced`) and only with that fee: a fee changed since (the site's rules edited between the
two X's) is answered with the new one and nothing is done, checked again in the cancellation's
own transaction. Never charged unannounced.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from booking.adapters import projections, scheduling_store
from booking.application import handlers
from booking.application.ports import EverySite
from booking.domain import appointment as appointments
from booking.domain.appointment import Appointment
from booking.domain.errors import NotAllowedNow
from booking.domain.manage import (
    Announced,
    FeeNotAnnounced,
    Manageable,
    as_announced,
    cancellation_terms,
    charges_unannounced,
    manageable,
)
from booking.domain.scheduling.rules import Fee
from booking.entrypoints.http.deps import execute
from booking.entrypoints.policies import offer_policy
from counseling_shared.codes import CancelledBy
from counseling_shared.reminder_replies import ReplyAction, ReplyOutcome
from counseling_shared.service import Runtime
from counseling_shared.unit_of_work import UnitOfWork

# Stays in booking's database (never on the bus): why the appointment was cancelled.
REASON = "cancelled by the client by replying to their reminder text"

Command = Callable[[UnitOfWork], Awaitable[Appointment]]


@dataclass(frozen=True)
class ReplyRequest:
    reminder_id: UUID  # notify's notification id of the reminder (the audit actor names it)
    appointment_id: UUID
    client_id: UUID
    start: datetime  # the start the reminder named
    action: ReplyAction
    announced: Announced | None  # the fee the client was told already (their second X)


@dataclass(frozen=True)
class ReplyAnswer:
    outcome: ReplyOutcome
    appointment: Appointment | None = None
    fee: Fee | None = None

    @property
    def changed(self) -> bool:
        return self.outcome in (ReplyOutcome.CONFIRMED, ReplyOutcome.CANCELLED)


class _Answered(Exception):
    def __init__(self, answer: ReplyAnswer) -> None:
        super().__init__(answer.outcome.value)
        self.answer = answer


async def load(runtime: Runtime, request: ReplyRequest) -> Appointment | None:
    """The appointment asked about, if it is the client's (another's: as if unknown)."""
    async with runtime.db().acquire() as conn:
        found = await projections.load_appointment(conn, request.appointment_id)
    return found if found is not None and found.client_id == request.client_id else None


async def apply_reply(runtime: Runtime, request: ReplyRequest, found: Appointment) -> ReplyAnswer:
    """Confirm or cancel `found` as the reply asks, or say why not (nothing changed then)."""
    try:
        return await _apply(runtime, request, found)
    except _Answered as answered:
        return answered.answer


async def _apply(runtime: Runtime, request: ReplyRequest, found: Appointment) -> ReplyAnswer:
    refused = _refusal(found, request, runtime.clock.now())
    if refused is not None:
        return refused
    if request.action is ReplyAction.CONFIRM:
        if found.confirmed_at is not None:
            return ReplyAnswer(ReplyOutcome.ALREADY_CONFIRMED, found)
        confirmed = await _run(
            runtime, request, lambda uow: handlers.confirm_appointment(uow, found.id, EverySite())
        )
        return ReplyAnswer(ReplyOutcome.CONFIRMED, confirmed)
    async with runtime.db().acquire() as conn:
        site = await projections.load_site(conn, found.site_id)
        rules = await scheduling_store.load_rules(conn, found.site_id)
    assert site is not None  # an appointment's site always exists
    fee = rules.missed_session_fee if rules else None
    terms = cancellation_terms(found, site.late_window, fee, runtime.clock.now())
    if charges_unannounced(terms.late, terms.fee, request.announced):
        return ReplyAnswer(ReplyOutcome.LATE_NEEDS_REPEAT, found, terms.fee)
    command = appointments.CancelAppointment(REASON, CancelledBy.CLIENT)
    on_freed = offer_policy(runtime).on_freed()
    vet = as_announced(request.announced)  # the rules changed since the check above
    try:
        cancelled = await _run(
            runtime,
            request,
            lambda uow: handlers.cancel_appointment(
                uow, found.id, command, EverySite(), on_freed, vet
            ),
        )
    except FeeNotAnnounced as unannounced:
        return ReplyAnswer(ReplyOutcome.LATE_NEEDS_REPEAT, found, unannounced.fee)
    return ReplyAnswer(ReplyOutcome.CANCELLED, cancelled, cancelled.fee_due)


def _refusal(found: Appointment, request: ReplyRequest, now: datetime) -> ReplyAnswer | None:
    if manageable(found, now) is not Manageable.OPEN:
        return ReplyAnswer(ReplyOutcome.OVER, found)
    if int(found.start.timestamp()) != int(request.start.timestamp()):
        # Rescheduled since the reminder: it must not act on a time it did not name.
        return ReplyAnswer(ReplyOutcome.MOVED, found)
    return None


async def _run(runtime: Runtime, request: ReplyRequest, command: Command) -> Appointment:
    """Run `command`; refused because the appointment changed meanwhile: say what it is now."""
    try:
        return await execute(runtime, command)
    except NotAllowedNow:
        async with runtime.db().acquire() as conn:
            now = await projections.load_appointment(conn, request.appointment_id)
        assert now is not None
        refused = _refusal(now, request, runtime.clock.now())
        raise _Answered(refused or ReplyAnswer(ReplyOutcome.OVER, now)) from None
