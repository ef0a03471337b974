"""Every booked appointment has its slot claim, same counselor, room, client and span, and no
other appointment has one: that mirror is what keeps booked appointments apart from holds
(`claims.unmirrored`)."""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from booking.adapters import claims
from counseling_shared.db import connect
from tests.booking.integration.support import Booking

if TYPE_CHECKING:
    from counseling_shared.db import Connection

pytestmark = pytest.mark.integration


async def _written_through_the_api(booking: Booking) -> dict[str, UUID]:
    site = await booking.site()
    counselor, client = await booking.counselor(site["id"]), await booking.client(site["id"])
    room = await booking.room(site["id"])
    online = await booking.appointment(counselor, client, booking.at(hours=10))
    in_room = await booking.appointment(
        counselor, client, booking.at(hours=12), modality="in_person", room_id=room["id"]
    )
    moved = await booking.appointment(counselor, client, booking.at(hours=14))
    answer = await booking.post(
        f"/appointments/{moved['id']}/reschedule", {"start": booking.at(hours=16).isoformat()}
    )
    assert answer.status_code == 200, answer.text
    cancelled = await booking.appointment(counselor, client, booking.at(hours=18))
    answer = await booking.post(
        f"/appointments/{cancelled['id']}/cancel", {"reason": "r", "cancelled_by": "center"}
    )
    assert answer.status_code == 200, answer.text
    hold = await booking.created(
        "/holds",
        {
            "counselor_id": counselor["id"],
            "start": booking.at(hours=20).isoformat(),
            "duration_minutes": 50,
            "modality": "online",
        },
    )
    held = await booking.appointment(counselor, client, booking.at(hours=20), hold_id=hold["id"])
    named = {"online": online, "in_room": in_room, "moved": moved}
    return {
        name: UUID(a["id"]) for name, a in (named | {"cancelled": cancelled, "held": held}).items()
    }


Spoil = Callable[["Connection", dict[str, UUID]], Awaitable[Any]]
SPOILS: dict[str, tuple[str, Spoil]] = {
    "claim lost": (
        "online",
        lambda c, ids: c.execute("DELETE FROM slot_claims WHERE owner_id = $1", ids["online"]),
    ),
    "claim for another span": (
        "moved",
        lambda c, ids: c.execute(
            "UPDATE slot_claims SET end_at = end_at + interval '1 minute' WHERE owner_id = $1",
            ids["moved"],
        ),
    ),
    "claim for another room": (
        "in_room",
        lambda c, ids: c.execute(
            "UPDATE slot_claims SET room_id = NULL WHERE owner_id = $1", ids["in_room"]
        ),
    ),
    "claim outlives the booking": (
        "held",
        lambda c, ids: c.execute(
            "UPDATE appointments SET status = 'cancelled' WHERE id = $1", ids["held"]
        ),
    ),
    "cancelled appointment claims its slot": (
        "cancelled",
        lambda c, ids: c.execute(
            """INSERT INTO slot_claims (owner_id, owner_kind, site_id, counselor_id, room_id,
                                        client_id, start_at, end_at)
               SELECT id, 'appointment', site_id, counselor_id, room_id, client_id,
                      start_at + interval '1 day', end_at + interval '1 day'
               FROM appointments WHERE id = $1""",
            ids["cancelled"],
        ),
    ),
}


async def test_the_write_path_keeps_each_booked_appointment_claimed_and_the_check_finds_drift(
    booking: Booking,
) -> None:
    ids = await _written_through_the_api(booking)
    conn = await connect(booking.database_url)
    try:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM slot_claims WHERE owner_id = ANY($1::uuid[])",
                list(ids.values()),
            )
            == len(ids) - 1
        )  # every one but the cancelled one
        assert await claims.unmirrored(conn) == []
        for spoil, (victim, write) in SPOILS.items():
            transaction = conn.transaction()
            await transaction.start()
            try:
                await write(conn, ids)
                assert await claims.unmirrored(conn) == [ids[victim]], spoil
            finally:
                await transaction.rollback()
        assert await claims.unmirrored(conn) == []
    finally:
        await conn.close()
