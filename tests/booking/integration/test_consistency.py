"""Racing writers of one appointment, and projections that refold from the event store."""

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from booking.application.reannounce import reannounce_staff
from booking.application.rebuild import rebuild_projections
from counseling_shared.db import connect
from tests.booking.integration.support import Booking

pytestmark = pytest.mark.integration

TABLES = ("sites", "staff", "rooms", "clients", "appointments")


async def test_simultaneous_cancellations_of_one_appointment_cancel_it_once(
    booking: Booking,
) -> None:
    site = await booking.site()
    counselor, client = await booking.counselor(site["id"]), await booking.client(site["id"])
    booked = await booking.appointment(counselor, client, booking.at(hours=10))

    answers = await asyncio.gather(
        *(
            booking.post(
                f"/appointments/{booked['id']}/cancel",
                {"reason": "r", "cancelled_by": "center"},
            )
            for _ in range(8)
        )
    )

    assert Counter(a.status_code for a in answers) == {200: 1, 409: 7}
    conn = await connect(booking.database_url)
    try:
        versions = await conn.fetchval(
            "SELECT count(*) FROM events WHERE stream_id = $1", f"appointment-{booked['id']}"
        )
    finally:
        await conn.close()
    assert versions == 2


async def test_rebuilding_the_projections_gives_back_the_same_rows(booking: Booking) -> None:
    site = await booking.site(late_cancellation_window="PT3H")
    counselor, client = await booking.counselor(site["id"]), await booking.client(site["id"])
    room = await booking.room(site["id"])
    moved = await booking.appointment(
        counselor, client, booking.at(hours=1), modality="in_person", room_id=room["id"]
    )
    await booking.post(
        f"/appointments/{moved['id']}/reschedule", {"start": booking.at(hours=2).isoformat()}
    )
    done = await booking.appointment(counselor, client, booking.at(hours=3))
    booking.clock.advance(timedelta(hours=4))
    await booking.post(
        f"/appointments/{done['id']}/complete",
        {"goal_horizon": "long_term", "goals": ["a", "b"], "risk_level": "imminent"},
    )
    await booking.post(
        f"/clients/{client['id']}/episode/close",
        {
            "reason": "referred",
            "effective_on": "2030-05-01",
            "referral": {"to": "x", "contact": "y"},
        },
    )
    changed = await booking.http.patch(
        f"/staff/{counselor['id']}",
        json={"phone": "+82 10 7777 8888", "locale": "en", "name": "Dr. Park"},
        headers={"Authorization": "Bearer dev-admin-key"},
    )
    assert changed.status_code == 200, changed.text
    left = await booking.counselor(site["id"])
    assert (await booking.post(f"/staff/{left['id']}/deactivate")).status_code == 200
    conn = await connect(booking.database_url)
    try:
        assert await reannounce_staff(conn) >= 1  # a StaffMemberAnnouncedAgain on each stream
        before = {t: await conn.fetch(f"SELECT * FROM {t} ORDER BY id") for t in TABLES}
        assert ("+82 10 7777 8888", 3) in {(r["phone"], r["version"]) for r in before["staff"]}

        counts = await rebuild_projections(conn)

        after = {t: await conn.fetch(f"SELECT * FROM {t} ORDER BY id") for t in TABLES}
    finally:
        await conn.close()
    assert counts["appointment"] == len(before["appointments"]) >= 2
    for table in TABLES:
        assert [dict(r) for r in after[table]] == [dict(r) for r in before[table]], table
