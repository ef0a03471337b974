"""A site's booking rules beyond v1: the buffer between sessions and the missed-session fee."""

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from booking.domain.errors import refuse_invalid
from booking.domain.site import Site

MAX_BUFFER_MINUTES = 120
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


NO_RULES_BUFFER = 0


@dataclass(frozen=True)
class SetBookingRules:
    buffer_minutes: int = NO_RULES_BUFFER
    missed_session_fee: Fee | None = None


@dataclass(frozen=True)
class BookingRulesSet:
    site_id: UUID
    buffer_minutes: int
    missed_session_fee: Fee | None
    set_at: datetime


RulesEvent = BookingRulesSet


def set_rules(site: Site, command: SetBookingRules, now: datetime) -> list[RulesEvent]:
    fee = command.missed_session_fee
    refuse_invalid(
        {
            "buffer_minutes": None
            if 0 <= command.buffer_minutes <= MAX_BUFFER_MINUTES
            else f"must be between 0 and {MAX_BUFFER_MINUTES}",
            "missed_session_fee": None if fee is None else _fee_problem(fee),
        }
    )
    return [BookingRulesSet(site.id, command.buffer_minutes, fee, now)]


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
    )
