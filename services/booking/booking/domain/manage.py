"""What the client's manage page (the signed link in a reminder) may offer, decided purely.

The page tells the client before they cancel whether the cancellation is late and what fee
the site's policy charges; the cancel itself (`appointment.cancel`, by the client) decides
the same way, so what the page said and what is recorded agree.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from booking.domain.appointment import Appointment, AppointmentStatus
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


def worse_than_shown(terms: CancellationTerms, shown_late: bool) -> bool:
    """The window closed between showing the page and pressing Cancel: the client was told
    it was free, so they must see the fee before it is charged."""
    return terms.late and not shown_late


@dataclass(frozen=True)
class Announced:
    """What the client was told before their second X: late, with this fee (None: none)."""

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
