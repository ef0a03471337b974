"""`expected_fee` on a cancel, through the real service: an integration that cancels on a
client's behalf names the fee it told the client; when the cancellation would mark another
(the late window closed, or the site's fee changed, since), the answer is a 409 `fee-changed`
naming the fee that applies and nothing is cancelled. Without the field, nothing changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import nats
import pytest

from tests.booking.integration.support import Booking

pytestmark = pytest.mark.integration

FEE = {"amount": "40.00", "currency": "EUR"}
FEE_CHANGED = "https://counseling-suite.example/problems/fee-changed"


async def _practice(booking: Booking, **site: Any) -> tuple[dict[str, Any], ...]:
    at = await booking.site(**site)
    return at, await booking.counselor(at["id"]), await booking.client(at["id"])


async def _charge(booking: Booking, site_id: str, fee: dict[str, str] | None) -> None:
    rules = await booking.http.put(
        f"/sites/{site_id}/booking-rules",
        json={"missed_session_fee": fee},
        headers={"Authorization": "Bearer dev-admin-key"},
    )
    assert rules.status_code == 200, rules.text


async def _cancelled_events(booking: Booking, site_id: str) -> int:
    nc = await nats.connect(booking.nats_url)
    try:
        info = await nc.jetstream().stream_info(
            "BOOKING", subjects_filter=f"booking.{site_id}.AppointmentCancelled"
        )
        return sum((info.state.subjects or {}).values())
    finally:
        await nc.close()


def _cancel(**fields: Any) -> dict[str, Any]:
    return {"reason": "called the front desk", "cancelled_by": "client"} | fields


async def test_a_window_closing_after_the_client_was_told_no_fee_is_a_409_changing_nothing(
    booking: Booking,
) -> None:
    site, counselor, client = await _practice(booking)
    await _charge(booking, site["id"], FEE)
    booked = await booking.appointment(counselor, client, booking.at(hours=24, minutes=10))
    before = (await booking.get(f"/appointments/{booked['id']}")).json()
    booking.clock.advance(timedelta(minutes=20))  # the desk told "no fee"; the window closed

    refused = await booking.post(f"/appointments/{booked['id']}/cancel", _cancel(expected_fee=None))

    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == FEE_CHANGED
    assert problem["fee_due"] == FEE
    assert (await booking.get(f"/appointments/{booked['id']}")).json() == before
    assert await _cancelled_events(booking, site["id"]) == 0

    told = await booking.post(f"/appointments/{booked['id']}/cancel", _cancel(expected_fee=FEE))

    assert told.status_code == 200, told.text
    answer = told.json()
    assert (answer["status"], answer["late"], answer["fee_due"]) == ("cancelled", True, FEE)


async def test_a_fee_the_site_changed_since_is_refused_with_the_new_fee(
    booking: Booking,
) -> None:
    site, counselor, client = await _practice(booking)
    await _charge(booking, site["id"], FEE)
    booked = await booking.appointment(counselor, client, booking.at(hours=3))
    await _charge(booking, site["id"], {"amount": "60.00", "currency": "EUR"})

    refused = await booking.post(
        f"/appointments/{booked['id']}/cancel",
        _cancel(expected_fee={"amount": "40", "currency": "EUR"}),
    )

    assert refused.status_code == 409, refused.text
    assert refused.json()["fee_due"] == {"amount": "60.00", "currency": "EUR"}
    assert (await booking.get(f"/appointments/{booked['id']}")).json()["status"] == "booked"


async def test_matching_terms_cancel_as_before(booking: Booking) -> None:
    site, counselor, client = await _practice(booking)
    await _charge(booking, site["id"], FEE)
    early = await booking.appointment(counselor, client, booking.at(hours=50))
    late = await booking.appointment(counselor, client, booking.at(hours=5))
    by_staff = await booking.appointment(counselor, client, booking.at(hours=7))

    free = await booking.post(f"/appointments/{early['id']}/cancel", _cancel(expected_fee=None))
    charged = await booking.post(
        f"/appointments/{late['id']}/cancel",
        _cancel(expected_fee={"amount": "40", "currency": "EUR"}),  # 40 is 40.00
    )
    staff = await booking.post(
        f"/appointments/{by_staff['id']}/cancel",
        _cancel(cancelled_by="center", expected_fee=None),  # the center cancelling: no fee
    )

    assert free.status_code == 200, free.text
    assert (free.json()["late"], free.json()["fee_due"]) == (False, None)
    assert charged.status_code == 200, charged.text
    assert charged.json()["fee_due"] == FEE
    assert staff.status_code == 200, staff.text
    assert (staff.json()["late"], staff.json()["fee_due"]) == (True, None)


async def test_without_expected_fee_a_late_cancel_marks_the_fee_as_before(
    booking: Booking,
) -> None:
    site, counselor, client = await _practice(booking)
    await _charge(booking, site["id"], FEE)
    booked = await booking.appointment(counselor, client, booking.at(hours=2))

    cancelled = await booking.post(f"/appointments/{booked['id']}/cancel", _cancel())

    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["late"], cancelled.json()["fee_due"]) == (True, FEE)


async def test_a_malformed_expected_fee_is_a_422_naming_it(booking: Booking) -> None:
    _, counselor, client = await _practice(booking)
    booked = await booking.appointment(counselor, client, booking.at(hours=40))

    answer = await booking.post(
        f"/appointments/{booked['id']}/cancel",
        _cancel(expected_fee={"amount": "-5", "currency": "euro"}),
    )

    assert answer.status_code == 422, answer.text
    fields = {e["field"] for e in answer.json()["errors"]}
    assert {"expected_fee.amount", "expected_fee.currency"} <= fields
    assert (await booking.get(f"/appointments/{booked['id']}")).json()["status"] == "booked"


async def test_a_series_cancel_compares_the_fees_its_occurrences_add_up_to(
    booking: Booking,
) -> None:
    """Weekly, inside a two-week window: the first two occurrences are late (twice 40 EUR)."""
    site, counselor, client = await _practice(booking, late_cancellation_window="P14D")
    await _charge(booking, site["id"], FEE)
    series = await booking.created(
        "/appointment-series",
        {
            "counselor_id": counselor["id"],
            "client_id": client["id"],
            "start": booking.at(hours=30).isoformat(),
            "modality": "online",
            "rrule": "FREQ=WEEKLY;COUNT=4",
        },
    )
    path = f"/appointment-series/{series['id']}/cancel"

    refused = await booking.post(path, _cancel(expected_fee=FEE))

    assert refused.status_code == 409, refused.text
    assert refused.json()["type"] == FEE_CHANGED
    assert refused.json()["fee_due"] == {"amount": "80.00", "currency": "EUR"}
    shown = (await booking.get(f"/appointment-series/{series['id']}")).json()
    assert shown["cancelled_from"] is None
    assert {a["status"] for a in shown["appointments"]} == {"booked"}
    assert await _cancelled_events(booking, site["id"]) == 0

    told = await booking.post(path, _cancel(expected_fee={"amount": "80.00", "currency": "EUR"}))

    assert told.status_code == 200, told.text
    fees = [a["fee_due"] for a in told.json()["appointments"]]
    assert fees == [FEE, FEE, None, None]
