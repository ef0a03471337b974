"""A rebuild over a filled `appointments` compares it and `slot_claims` with the rebuilt rows
and writes only the rows that differ (a module of its own: no holds, whose claims are always
written again, and no other test's rows)."""

from uuid import UUID

import pytest

from booking.application.rebuild import rebuild_projections
from counseling_shared.db import connect
from tests.booking.integration.support import Booking

pytestmark = pytest.mark.integration


async def test_a_rebuild_of_a_filled_projection_writes_only_the_rows_that_differ(
    booking: Booking,
) -> None:
    """With `appointments` filled, its rows and their claims are compared with the rebuilt
    ones: only a differing row is deleted and inserted again (emptied, all three would be)."""
    site = await booking.site()
    counselor = await booking.counselor(site["id"])
    clients = [await booking.client(site["id"]) for _ in range(3)]
    booked = [
        await booking.appointment(counselor, c, booking.at(hours=10 + n))
        for n, c in enumerate(clients)
    ]
    drifted = UUID(booked[0]["id"])
    conn = await connect(booking.database_url)
    try:
        await conn.execute("UPDATE appointments SET version = 7 WHERE id = $1", drifted)
        async with conn.transaction():
            await rebuild_projections(conn, many_streams=1)
            found = await conn.fetch(
                """SELECT relname, n_tup_ins, n_tup_del FROM pg_stat_xact_user_tables
                   WHERE relname IN ('appointments', 'slot_claims')"""
            )
        version = await conn.fetchval("SELECT version FROM appointments WHERE id = $1", drifted)
    finally:
        await conn.close()
    written = {r["relname"]: (r["n_tup_ins"], r["n_tup_del"]) for r in found}
    assert written == {"appointments": (1, 1), "slot_claims": (0, 0)}
    assert version == 1
