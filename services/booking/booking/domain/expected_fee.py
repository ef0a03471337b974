"""An integration's guard on a cancellation's fee, decided purely.

A front desk system shows the client what cancelling costs, then cancels on their behalf;
meanwhile the late window may close or the site's fee change. With `expected_fee` on the
cancel it names what it showed, and a cancellation that would mark another fee is refused
inside the cancellation's own transaction, so nothing is charged that the client was not told.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from booking.domain.appointment import AppointmentCancelled, AppointmentEvent
from booking.domain.scheduling.rules import Fee


@dataclass(frozen=True)
class ExpectedFee:
    """What the caller told the client the cancellation costs (`fee` None: nothing)."""

    fee: Fee | None


class FeeChanged(Exception):
    """The cancellation would mark `fee` (None: none), not the one expected. Nothing is done."""

    def __init__(self, fee: Fee | None, expected: Fee | None) -> None:
        super().__init__(
            f"this cancellation would mark a fee of {_text(fee)}, not the {_text(expected)} "
            "expected; nothing was cancelled"
        )
        self.fee = fee


def _text(fee: Fee | None) -> str:
    return f"{fee.amount} {fee.currency}" if fee else "none"


def total_fee(fees: Iterable[Fee | None]) -> Fee | None:
    """The fees added up (None: none at all). One cancel reads one site's fee in one
    transaction, so the fees it marks share one currency."""
    marked = [fee for fee in fees if fee is not None]
    if not marked:
        return None
    currencies = {fee.currency for fee in marked}
    if len(currencies) != 1:
        raise ValueError(f"fees in several currencies: {sorted(currencies)}")
    return Fee(sum((fee.amount for fee in marked), Decimal(0)), marked[0].currency)


def require_expected(fee: Fee | None, expected: ExpectedFee | None) -> None:
    """Raise `FeeChanged` when a fee is expected and `fee` is not it (absent: no guard)."""
    if expected is not None and fee != expected.fee:
        raise FeeChanged(fee, expected.fee)


def as_expected(expected: ExpectedFee) -> Callable[[Sequence[AppointmentEvent]], None]:
    """A `vet` for `handlers.cancel_appointment`: refuses a cancellation whose `fee_due` is
    not the expected fee."""

    def vet(events: Sequence[AppointmentEvent]) -> None:
        cancelled = [e for e in events if isinstance(e, AppointmentCancelled)]
        require_expected(total_fee(e.fee_due for e in cancelled), expected)

    return vet
