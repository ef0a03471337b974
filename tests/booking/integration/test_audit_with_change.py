"""Booking's changes write their audit entry in their own transaction: one entry per change,
whether it is one statement or a series of writes, keyed or not."""

from datetime import timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from tests.booking.integration.support import ADMIN_KEY, Booking
from tests.booking.integration.test_series import _practice, _series

pytestmark = pytest.mark.integration


async def _entries(booking: Booking, request_id: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(booking.database_url)
    try:
        rows = await conn.fetch(
            """SELECT action, status, resource_id, site_id::text, client_id::text FROM audit
               WHERE request_id = $1 ORDER BY id""",
            request_id,
        )
    finally:
        await conn.close()
    return [tuple(row) for row in rows]


async def _post(booking: Booking, path: str, body: Any, **headers: str) -> tuple[Any, str]:
    request_id = f"booking-{uuid4().hex}"
    answer = await booking.http.post(
        path,
        json=body,
        headers={"Authorization": f"Bearer {ADMIN_KEY}", "X-Request-ID": request_id, **headers},
    )
    assert answer.status_code == 201, answer.text
    return answer.json(), request_id


@pytest.mark.parametrize("keyed", [False, True], ids=["no key", "Idempotency-Key"])
async def test_a_booking_has_one_entry_naming_it_its_client_and_site(
    booking: Booking, keyed: bool
) -> None:
    practice = await _practice(booking)
    body = {
        "counselor_id": practice["counselor"]["id"],
        "client_id": practice["client"]["id"],
        "start": (booking.clock.now() + timedelta(days=3)).replace(microsecond=0).isoformat(),
        "duration_minutes": 50,
        "modality": "online",
    }
    headers = {"Idempotency-Key": uuid4().hex} if keyed else {}

    booked, request_id = await _post(booking, "/appointments", body, **headers)

    assert await _entries(booking, request_id) == [
        ("book_appointment", 201, booked["id"], booked["site_id"], booked["client_id"])
    ]


async def test_a_series_of_several_writes_has_one_entry(booking: Booking) -> None:
    practice = await _practice(booking)

    series, request_id = await _post(
        booking, "/appointment-series", _series(practice, "FREQ=WEEKLY;COUNT=3")
    )

    assert [entry[:3] for entry in await _entries(booking, request_id)] == [
        ("book_series", 201, series["id"])
    ]
