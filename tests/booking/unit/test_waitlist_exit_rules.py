"""Leaving the waitlist: only a waiting entry is withdrawn (else 409) or closed (else nothing
happens), each keeping its coded reason; a declined or withdrawn offer is never accepted."""

from datetime import timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.domain.scheduling import deferred, waitlist
from booking.domain.scheduling.deferred import DeferredStatus
from booking.domain.scheduling.waitlist import (
    CloseReason,
    Entry,
    EntryStatus,
    OfferStatus,
    WithdrawReason,
)
from counseling_shared.codes import Modality
from tests.booking.unit.builders import NOW


def _waiting() -> Entry:
    joined = waitlist.WaitlistJoined(
        uuid4(), uuid4(), uuid4(), None, None, None, None, None, NOW - timedelta(days=1)
    )
    return waitlist.evolve_entry(None, joined)


def _offer(*closing: waitlist.OfferEvent) -> waitlist.Offer:
    made = waitlist.WaitlistOfferMade(
        uuid4(), uuid4(), uuid4(), uuid4(), uuid4(), uuid4(),
        NOW + timedelta(days=1), NOW + timedelta(days=1, hours=1), NOW,
        NOW + timedelta(minutes=15),
    )  # fmt: skip
    offer = waitlist.evolve_offer(None, made)
    for event in closing:
        offer = waitlist.evolve_offer(offer, event)
    return offer


@given(st.sampled_from(WithdrawReason))
def test_a_waiting_entry_is_withdrawn_once_with_its_reason(reason: WithdrawReason) -> None:
    entry = _waiting()

    [event] = waitlist.withdraw(entry, reason, NOW)
    left = waitlist.evolve_entry(entry, event)

    assert (left.status, left.reason, left.left_at) == (EntryStatus.WITHDRAWN, reason, NOW)
    assert left.version == entry.version + 1
    with pytest.raises(waitlist.EntryNotWaiting):
        waitlist.withdraw(left, reason, NOW)
    assert waitlist.close(left, CloseReason.EPISODE_CLOSED, NOW) == []


@given(st.sampled_from(CloseReason))
def test_a_waiting_entry_closes_with_its_reason_and_then_stays_closed(
    reason: CloseReason,
) -> None:
    entry = _waiting()

    [event] = waitlist.close(entry, reason, NOW)
    closed = waitlist.evolve_entry(entry, event)

    assert (closed.status, closed.reason) == (EntryStatus.CLOSED, reason)
    assert waitlist.close(closed, reason, NOW) == []
    with pytest.raises(waitlist.EntryNotWaiting):
        waitlist.withdraw(closed, WithdrawReason.OTHER, NOW)


def test_every_stored_reason_reads_back_as_its_code() -> None:
    for reason in [*WithdrawReason, *CloseReason]:
        assert waitlist.leave_reason(reason.value) is reason


def test_a_declined_or_withdrawn_offer_is_gone_like_an_expired_one() -> None:
    declined = _offer(waitlist.WaitlistOfferDeclined(uuid4(), NOW))
    withdrawn = _offer(waitlist.WaitlistOfferWithdrawn(uuid4(), NOW))

    assert (declined.status, withdrawn.status) == (OfferStatus.DECLINED, OfferStatus.WITHDRAWN)
    for offer in (declined, withdrawn):
        with pytest.raises(waitlist.OfferExpired):
            waitlist.check_acceptable(offer, NOW)
    waitlist.check_acceptable(_offer(), NOW)  # an open offer in time is still acceptable


@given(seat=st.booleans())
def test_a_slot_handed_over_by_an_erasure_is_due_at_once_and_released_once(seat: bool) -> None:
    """The operator's erasure has no offer policy: the freed slot (or seat) becomes a deferred
    slot due now, which the service's timer releases to the waitlist, once."""
    freed = waitlist.FreedSlot(
        uuid4(), uuid4(), None, Modality.ONLINE, NOW + timedelta(days=1),
        NOW + timedelta(days=1, hours=1), uuid4() if seat else None,
    )  # fmt: skip
    state = None
    for event in deferred.hand_over(uuid4(), freed, NOW):
        state = deferred.evolve(state, event)
    assert state is not None

    assert (state.offer_at, state.status, state.slot) == (NOW, DeferredStatus.WAITING, freed)
    [released] = deferred.release(state, NOW)
    assert deferred.release(deferred.evolve(state, released), NOW) == []
