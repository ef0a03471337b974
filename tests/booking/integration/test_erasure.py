"""Erasing a client in booking leaves a tombstone: the ids stay, the person's details go, from
the projections and the stored events alike, so a rebuild cannot bring them back."""

from datetime import timedelta

import pytest

from booking.application.erasure import ERASED, erase_client
from booking.application.rebuild import rebuild_projections
from counseling_shared.db import connect
from tests.booking.integration.support import Booking

pytestmark = pytest.mark.integration

NAME, EMAIL, GOAL = "Ha-eun Secret", "ha-eun.secret@private.example", "Call my estranged father"


async def test_an_erased_client_is_a_tombstone_that_a_rebuild_keeps(booking: Booking) -> None:
    site = await booking.site()
    counselor = await booking.counselor(site["id"])
    client = await booking.client(site["id"], name=NAME, email=EMAIL)
    session = await booking.appointment(counselor, client, booking.at(hours=1))
    booking.clock.advance(timedelta(hours=2))
    await booking.post(
        f"/appointments/{session['id']}/complete",
        {"goal_horizon": "short_term", "goals": [GOAL], "next_steps": "Write to him"},
    )

    conn = await connect(booking.database_url)
    try:
        changed = await erase_client(conn, client["id"])
        stored = await conn.fetchval("SELECT string_agg(data::text, ' ') FROM events")
        await rebuild_projections(conn)
    finally:
        await conn.close()

    assert changed["clients"] == 1
    assert changed["appointments"] == 1
    read = (await booking.get(f"/clients/{client['id']}")).json()
    assert (read["name"], read["email"], read["phone"]) == (ERASED, None, None)
    appointment = (await booking.get(f"/appointments/{session['id']}")).json()
    assert (appointment["goals"], appointment["next_steps"]) == ([], None)
    assert appointment["client_id"] == client["id"]
    for secret in (NAME, EMAIL, GOAL):
        assert secret not in stored
