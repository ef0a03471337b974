"""A site's booking rules beyond v1: the buffer between sessions, the missed-session fee, and
whether clients may move their own session from their reminder's link (off unless set)."""

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from booking.domain.errors import refuse_invalid
from booking.domain.site import Site

MAX_BUFFER_MINUTES = 120
# How far ahead a client may move their own session: the new time within this many days.
MIN_CLIENT_RESCHEDULE_DAYS = 1
MAX_CLIENT_RESCHEDULE_DAYS = 60
DEFAULT_CLIENT_RESCHEDULE_DAYS = 14
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class Fee:
    amount: Decimal
    currency: str  # ISO 4217


@dataclass(frozen=True)
class BookingRules:
    site_id: UUID
    buffer_minutes: int
    missed_session_fee: Fee | None
    set_at: datetime
    version: int
    client_reschedule: bool = False
    client_reschedule_days: int = DEFAULT_CLIENT_RESCHEDULE_DAYS


NO_RULES_BUFFER = 0


@dataclass(frozen=True)
class SetBookingRules:
    buffer_minutes: int = NO_RULES_BUFFER
    missed_session_fee: Fee | None = None
    client_reschedule: bool = False
    client_reschedule_days: int = DEFAULT_CLIENT_RESCHEDULE_DAYS


@dataclass(frozen=True)
class BookingRulesSet:
    site_id: UUID
    buffer_minutes: int
    missed_session_fee: Fee | None
    set_at: datetime
    # Defaults: rules set before these fields existed keep clients from moving sessions.
    client_reschedule: bool = False
    client_reschedule_days: int = DEFAULT_CLIENT_RESCHEDULE_DAYS


RulesEvent = BookingRulesSet


def set_rules(site: Site, command: SetBookingRules, now: datetime) -> list[RulesEvent]:
    fee = command.missed_session_fee
    refuse_invalid(
        {
            "buffer_minutes": None
            if 0 <= command.buffer_minutes <= MAX_BUFFER_MINUTES
            else f"must be between 0 and {MAX_BUFFER_MINUTES}",
            "missed_session_fee": None if fee is None else _fee_problem(fee),
            "client_reschedule_days": None
            if MIN_CLIENT_RESCHEDULE_DAYS
            <= command.client_reschedule_days
            <= MAX_CLIENT_RESCHEDULE_DAYS
            else f"must be between {MIN_CLIENT_RESCHEDULE_DAYS} and {MAX_CLIENT_RESCHEDULE_DAYS}",
        }
    )
    return [
        BookingRulesSet(
            site.id,
            command.buffer_minutes,
            fee,
            now,
            command.client_reschedule,
            command.client_reschedule_days,
        )
    ]


def _fee_problem(fee: Fee) -> str | None:
    if not _CURRENCY.match(fee.currency):
        return "currency is an ISO 4217 code such as EUR or KRW"
    if fee.amount <= 0 or fee.amount >= Decimal("1e10") or fee.amount != round(fee.amount, 2):
        return "amount is positive, with at most two decimals"
    return None


def evolve(state: BookingRules | None, event: RulesEvent) -> BookingRules:
    return BookingRules(
        event.site_id,
        event.buffer_minutes,
        event.missed_session_fee,
        event.set_at,
        1 if state is None else state.version + 1,
        event.client_reschedule,
        event.client_reschedule_days,
    )
