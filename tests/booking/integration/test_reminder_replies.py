"""A client's C/X reply to a reminder text, as notify asks booking to apply it
(`booking.reminder_replies`): the manage page's rules over the bus: confirm once, cancel as
the client, a late cancellation only once its fee was announced, nothing for another client's
appointment or for a start the reminder did not name; each request audited."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import nats
import pytest

from tests.booking.integration.support import Booking

pytestmark = pytest.mark.integration

SUBJECT = "booking.reminder_replies"
FEE = {"amount": "40.00", "currency": "EUR"}
UNSENT: Any = object()  # a request without `shown_fee` (as a notify from before it)


async def ask(
    booking: Booking,
    appointment: dict[str, Any],
    action: str,
    *,
    client_id: str | None = None,
    start: str | None = None,
    shown_late: bool = False,
    shown_fee: dict[str, str] | None = UNSENT,
    reminder_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """One request as notify sends it (from its own inbox prefix, as on the real bus)."""
    request = {
        "reminder_id": str(reminder_id or uuid.uuid4()),
        "appointment_id": appointment["id"],
        "client_id": client_id or appointment["client_id"],
        "start": start or appointment["start"],
        "action": action,
        "shown_late": shown_late,
    }
    if shown_fee is not UNSENT:
        request["shown_fee"] = shown_fee
    nc = await nats.connect(booking.nats_url, inbox_prefix="_INBOX.notify")
    try:
        reply = await nc.request(SUBJECT, json.dumps(request).encode(), timeout=5)
    finally:
        await nc.close()
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


async def _set_fee(booking: Booking, site_id: str, fee: dict[str, str] | None) -> None:
    rules = await booking.http.put(
        f"/sites/{site_id}/booking-rules",
        json={"missed_session_fee": fee},
        headers={"Authorization": "Bearer dev-admin-key"},
    )
    assert rules.status_code == 200, rules.text


async def _booked(booking: Booking, hours: float, *, fee: bool = False) -> dict[str, Any]:
    site = await booking.site(name="Centre Rive Gauche", timezone="Europe/Paris", locale="fr")
    if fee:
        await _set_fee(booking, site["id"], FEE)
    counselor = await booking.counselor(site["id"])
    client = await booking.client(site["id"], locale="fr", phone="+33 6 12 34 56 78")
    return await booking.appointment(counselor, client, booking.at(hours=hours))


async def _state(booking: Booking, appointment: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = (await booking.get(f"/appointments/{appointment['id']}")).json()
    return answer


def _same_instant(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) == datetime.fromisoformat(b)


async def test_c_confirms_once_and_is_audited_as_the_sms_reply(booking: Booking) -> None:
    booked = await _booked(booking, 50)
    reminder = uuid.uuid4()

    first = await ask(booking, booked, "confirm", reminder_id=reminder)
    again = await ask(booking, booked, "confirm", reminder_id=reminder)

    assert first["outcome"] == "confirmed"
    assert _same_instant(first["start"], booked["start"])
    assert again["outcome"] == "already_confirmed"
    assert (await _state(booking, booked))["confirmed_at"] is not None
    trail = (await booking.get("/audit", client_id=booked["client_id"])).json()["items"]
    replies = [e for e in trail if e["action"] == "sms_reply_confirm"]
    assert len(replies) == 2
    assert {e["status"] for e in replies} == {200}
    assert all(
        e["actor"] == {"kind": "service", "id": f"notify:sms-reply:{reminder}"} for e in replies
    )
    assert all(e["resource_id"] == booked["id"] for e in replies)


async def test_x_cancels_as_the_client_without_a_fee_when_not_late(booking: Booking) -> None:
    booked = await _booked(booking, 50, fee=True)

    answer = await ask(booking, booked, "cancel")

    assert answer["outcome"] == "cancelled"
    assert answer["fee"] is None
    state = await _state(booking, booked)
    assert (state["status"], state["cancelled_by"], state["late"]) == ("cancelled", "client", False)
    assert state["fee_due"] is None
    again = await ask(booking, booked, "cancel")
    assert again["outcome"] == "over"  # cancelled before: nothing more to do


async def test_a_late_x_announces_the_fee_first_and_only_the_second_cancels(
    booking: Booking,
) -> None:
    booked = await _booked(booking, 10, fee=True)  # inside the 24-hour window

    first = await ask(booking, booked, "cancel")

    assert first["outcome"] == "late_needs_repeat"
    assert first["fee"] == FEE
    assert (await _state(booking, booked))["status"] == "booked"

    second = await ask(booking, booked, "cancel", shown_late=True, shown_fee=FEE)

    assert second["outcome"] == "cancelled"
    assert second["fee"] == FEE
    state = await _state(booking, booked)
    assert (state["status"], state["late"], state["fee_due"]) == ("cancelled", True, FEE)
    trail = (await booking.get("/audit", client_id=booked["client_id"])).json()["items"]
    statuses = sorted(e["status"] for e in trail if e["action"] == "sms_reply_cancel")
    assert statuses == [200, 409]


async def test_a_fee_changed_since_the_announcement_is_announced_not_charged(
    booking: Booking,
) -> None:
    """The site's fee changes between the client's two X's: the second X is answered with
    the new fee and nothing is done; an X that names the new fee cancels with it."""
    booked = await _booked(booking, 10, fee=True)
    first = await ask(booking, booked, "cancel")
    assert first["fee"] == FEE
    raised = {"amount": "60.00", "currency": "EUR"}
    await _set_fee(booking, booked["site_id"], raised)

    second = await ask(booking, booked, "cancel", shown_late=True, shown_fee=FEE)

    assert (second["outcome"], second["fee"]) == ("late_needs_repeat", raised)
    assert (await _state(booking, booked))["status"] == "booked"
    for other in ({"amount": "60.00", "currency": "USD"}, None, UNSENT):  # never announced
        answer = await ask(booking, booked, "cancel", shown_late=True, shown_fee=other)
        assert (answer["outcome"], answer["fee"]) == ("late_needs_repeat", raised), other
    third = await ask(booking, booked, "cancel", shown_late=True, shown_fee={**raised})
    assert (third["outcome"], third["fee"]) == ("cancelled", raised)
    state = await _state(booking, booked)
    assert (state["status"], state["fee_due"]) == ("cancelled", raised)


async def test_a_fee_dropped_since_the_announcement_cancels_without_one(
    booking: Booking,
) -> None:
    """Charging nothing is never more than the client agreed to."""
    booked = await _booked(booking, 10, fee=True)
    await ask(booking, booked, "cancel")
    await _set_fee(booking, booked["site_id"], None)

    answer = await ask(booking, booked, "cancel", shown_late=True, shown_fee=FEE)

    assert (answer["outcome"], answer["fee"]) == ("cancelled", None)
    state = await _state(booking, booked)
    assert (state["status"], state["late"], state["fee_due"]) == ("cancelled", True, None)


async def test_another_clients_reply_cannot_act(booking: Booking) -> None:
    booked = await _booked(booking, 50)

    answer = await ask(booking, booked, "cancel", client_id=str(uuid.uuid4()))

    assert answer == {"outcome": "not_found", "start": None, "fee": None}
    assert (await _state(booking, booked))["status"] == "booked"


async def test_a_reminder_of_the_old_time_cannot_act_after_a_reschedule(
    booking: Booking,
) -> None:
    booked = await _booked(booking, 50)
    new_start = booking.at(hours=74)
    moved = await booking.post(
        f"/appointments/{booked['id']}/reschedule", {"start": new_start.isoformat()}
    )
    assert moved.status_code == 200, moved.text

    for action in ("confirm", "cancel"):
        answer = await ask(booking, booked, action)  # the reminder named the old start
        assert answer["outcome"] == "moved"
        assert datetime.fromisoformat(answer["start"]) == new_start

    state = await _state(booking, booked)
    assert (state["status"], state["confirmed_at"]) == ("booked", None)
    confirmed = await ask(booking, booked, "confirm", start=new_start.isoformat())
    assert confirmed["outcome"] == "confirmed"  # a reminder of the new time may


async def test_a_started_appointment_cannot_be_changed(booking: Booking) -> None:
    booked = await _booked(booking, 2)
    booking.clock.advance(timedelta(hours=2, minutes=1))  # later tests book relative to it

    answer = await ask(booking, booked, "cancel", shown_late=True)

    assert answer["outcome"] == "over"
    assert (await _state(booking, booked))["status"] == "booked"


async def test_a_malformed_request_changes_nothing(booking: Booking) -> None:
    nc = await nats.connect(booking.nats_url)
    try:
        reply = await nc.request(SUBJECT, b'{"action": "cancel"}', timeout=5)
    finally:
        await nc.close()
    assert json.loads(reply.data) == {"outcome": "bad_request"}
