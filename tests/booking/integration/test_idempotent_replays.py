"""Replays of booking commands whose answer is not the first event's subject (contract:
Retries): the same key and body answer the first response's status and shape again, and
change nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.booking.integration.support import ADMIN_KEY, Booking
from tests.booking.integration.test_holds_and_availability import _hold
from tests.booking.integration.test_holds_and_availability import _practice as _working
from tests.booking.integration.test_series import _practice, _series
from tests.booking.integration.test_waitlist import _offer_url

pytestmark = pytest.mark.integration


def keyed(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}", "Idempotency-Key": key}


async def _twice(booking: Booking, path: str, body: Any) -> tuple[Any, Any]:
    key = str(uuid.uuid4())
    first = await booking.http.post(path, json=body, headers=keyed(key))
    again = await booking.http.post(path, json=body, headers=keyed(key))
    assert again.headers.get("idempotent-replayed") == "true", again.text
    return first, again


async def test_a_replayed_series_answers_the_series(booking: Booking) -> None:
    practice = await _practice(booking)

    first, again = await _twice(
        booking, "/appointment-series", _series(practice, "FREQ=WEEKLY;COUNT=3")
    )

    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json()
    listed = await booking.get("/appointments", client_id=practice["client"]["id"])
    assert len(listed.json()) == 3


async def test_a_replayed_booking_of_a_hold_answers_the_appointment(booking: Booking) -> None:
    practice = await _working(booking)
    client = await booking.client(practice["site"]["id"])
    start = booking.at(hours=120)
    hold = await booking.created("/holds", _hold(practice["counselor"], start))
    body = {
        "counselor_id": practice["counselor"]["id"],
        "client_id": client["id"],
        "start": start.isoformat(),
        "duration_minutes": 50,
        "modality": "online",
        "hold_id": hold["id"],
    }

    first, again = await _twice(booking, "/appointments", body)

    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json()
    assert again.json()["id"] != hold["id"]


async def test_a_replayed_episode_close_answers_the_episode(booking: Booking) -> None:
    site = await booking.site()
    client = await booking.client(site["id"])
    body = {"reason": "moved", "effective_on": "2030-03-31"}

    first, again = await _twice(booking, f"/clients/{client['id']}/episode/close", body)

    assert (first.status_code, again.status_code) == (200, 200), again.text
    assert again.json() == first.json()
    # The replay's read is no route to anyone else.
    hidden = await booking.get(f"/replayed/clients/{client['id']}/episode")
    assert hidden.status_code == 404


async def test_an_offer_accepted_with_an_api_key_and_a_key_is_replayed_as_the_appointment(
    booking: Booking,
) -> None:
    # The signed link is the credential; a caller may still send its API key and a key.
    site = await booking.site()
    counselor = await booking.counselor(site["id"])
    taken = await booking.appointment(
        counselor, await booking.client(site["id"]), booking.at(hours=140)
    )
    entry = await booking.created(
        "/waitlist", {"client_id": (await booking.client(site["id"]))["id"], "site_id": site["id"]}
    )
    await booking.post(
        f"/appointments/{taken['id']}/cancel", {"reason": "ill", "cancelled_by": "counselor"}
    )
    assert (await booking.get(f"/waitlist/{entry['id']}")).json()["offers"]
    link = await _offer_url(booking, site["id"], 8)

    first, again = await _twice(booking, link, None)

    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json()
