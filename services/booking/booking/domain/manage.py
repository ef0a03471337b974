"""What the client's manage page (the signed link in a reminder) may offer, decided purely.

The page tells the client before they cancel whether the cancellation is late and what fee
the site's policy charges; the cancel itself (`appointment.cancel`, by the client) decides
the same way, so what the page said and what is recorded agree.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from booking.domain.appointment import (
    Appointment,
    AppointmentCancelled,
    AppointmentEvent,
    AppointmentStatus,
)
from booking.domain.scheduling.rules import Fee
from booking.domain.slots import EARLIEST, is_late_cancellation


class Manageable(StrEnum):
    OPEN = "open"  # booked and not started: confirm or cancel
    CANCELLED = "cancelled"  # nothing left to do (409)
    OVER = "over"  # started, completed or missed (410)


@dataclass(frozen=True)
class CancellationTerms:
    """What cancelling now costs: `late` inside the site's window, with the site's fee."""

    late: bool
    fee: Fee | None
    late_from: datetime  # when a cancellation becomes late


def manageable(appointment: Appointment, now: datetime) -> Manageable:
    if appointment.status is AppointmentStatus.CANCELLED:
        return Manageable.CANCELLED
    if appointment.status is not AppointmentStatus.BOOKED or now >= appointment.start:
        return Manageable.OVER
    return Manageable.OPEN


def cancellation_terms(
    appointment: Appointment, late_window: timedelta, fee: Fee | None, now: datetime
) -> CancellationTerms:
    """The terms of a client's cancellation at `now` (as `appointment.cancel` records them)."""
    late = is_late_cancellation(appointment.start, now, late_window)
    # A window longer than all time since EARLIEST (a site may set P999999999D) makes every
    # cancellation late; its start is then EARLIEST, not an overflow (a 500 on the page).
    late_from = appointment.start - min(late_window, appointment.start - EARLIEST)
    return CancellationTerms(late, fee if late else None, late_from)


@dataclass(frozen=True)
class Announced:
    """What the client was told before confirming a cancellation (their second X, or the
    page's cancel step): late, with this fee (None: none). Not late: no `Announced` at all."""

    fee: Fee | None


def charges_unannounced(late: bool, fee: Fee | None, announced: Announced | None) -> bool:
    """Whether a cancellation that is `late` with `fee` would charge the client something
    they did not agree to: late but never announced, or a fee changed since the announcement
    (another amount or currency, or a fee where none was). No fee at all charges nothing."""
    if not late:
        return False
    if announced is None:
        return True
    return fee is not None and fee != announced.fee


class FeeNotAnnounced(Exception):
    """A client's cancellation would charge what they were not told: late with `fee` (None:
    late, no fee). Nothing is done; the client is shown (or texted) these terms instead."""

    def __init__(self, fee: Fee | None) -> None:
        super().__init__("late cancellation terms not announced")
        self.fee = fee


def as_announced(announced: Announced | None) -> Callable[[Sequence[AppointmentEvent]], None]:
    """A `vet` for `handlers.cancel_appointment`: refuses, inside the cancellation's own
    transaction, a cancellation that `charges_unannounced` (the window closed or the site's
    fee changed after the check before it), by raising `FeeNotAnnounced`."""

    def vet(events: Sequence[AppointmentEvent]) -> None:
        for event in events:
            if isinstance(event, AppointmentCancelled) and charges_unannounced(
                event.late, event.fee_due, announced
            ):
                raise FeeNotAnnounced(event.fee_due)

    return vet
