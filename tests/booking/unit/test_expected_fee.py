"""`expected_fee`'s decision, pure: the fee a cancel marks against the one the caller told."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.domain.expected_fee import ExpectedFee, FeeChanged, require_expected, total_fee
from booking.domain.scheduling.rules import Fee

EUR40 = Fee(Decimal("40.00"), "EUR")
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999.99"), places=2)


def test_no_expectation_accepts_any_fee() -> None:
    require_expected(EUR40, None)
    require_expected(None, None)


def test_no_fee_expected_refuses_a_fee_and_names_it() -> None:
    with pytest.raises(FeeChanged) as refused:
        require_expected(EUR40, ExpectedFee(None))
    assert refused.value.fee == EUR40


def test_a_fee_expected_refuses_none_and_another_amount_or_currency() -> None:
    for marked in (None, Fee(Decimal("60.00"), "EUR"), Fee(Decimal("40.00"), "USD")):
        with pytest.raises(FeeChanged):
            require_expected(marked, ExpectedFee(EUR40))


def test_the_same_amount_written_otherwise_is_the_same_fee() -> None:
    require_expected(EUR40, ExpectedFee(Fee(Decimal(40), "EUR")))


@given(st.lists(st.one_of(st.none(), amounts), max_size=8))
def test_the_total_adds_the_fees_marked(marked: list[Decimal | None]) -> None:
    fees = [Fee(a, "EUR") if a is not None else None for a in marked]
    paid = [a for a in marked if a is not None]
    expected = Fee(sum(paid, Decimal(0)), "EUR") if paid else None
    assert total_fee(fees) == expected


def test_fees_in_several_currencies_have_no_total() -> None:
    with pytest.raises(ValueError, match="several currencies"):
        total_fee([EUR40, Fee(Decimal("40.00"), "USD")])
