"""A rebuild over a filled `appointments` compares it and `slot_claims` with the rebuilt rows
and writes only the rows that differ (a module of its own: only booked appointments, no holds,
whose claims are always written again)."""

import pytest

from booking.application.rebuild import rebuild_projections
from counseling_shared.db import connect
from tests.booking.integration.support import Booking

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("most", [False, True])
async def test_a_rebuild_of_a_filled_projection_writes_only_the_rows_that_differ(
    booking: Booking, most: bool
) -> None:
    """With `appointments` filled, its rows and their claims are compared with the rebuilt
    ones, judged on the first `compared_sample` appointments (here all of them): when most are
    equal, only a differing row is deleted and inserted again; when most differ, both tables
    are emptied (TRUNCATE deletes no row) and every row inserted."""
    site = await booking.site()
    counselor = await booking.counselor(site["id"])
    for n in range(4):
        await booking.appointment(
            counselor, await booking.client(site["id"]), booking.at(hours=10 + n)
        )
    conn = await connect(booking.database_url)
    try:
        live = await conn.fetch("SELECT * FROM appointments ORDER BY id")
        every = len(live)  # this module's other runs' too
        drifted = every - 1 if most else 1
        await conn.execute(
            """UPDATE appointments SET version = version + 100
               WHERE id IN (SELECT id FROM appointments ORDER BY id LIMIT $1)""",
            drifted,
        )
        async with conn.transaction():
            await rebuild_projections(conn, many_streams=1, compared_sample=every)
            found = await conn.fetch(
                """SELECT relname, n_tup_ins, n_tup_del FROM pg_stat_xact_user_tables
                   WHERE relname IN ('appointments', 'slot_claims')"""
            )
        rebuilt = await conn.fetch("SELECT * FROM appointments ORDER BY id")
    finally:
        await conn.close()
    written = {r["relname"]: (r["n_tup_ins"], r["n_tup_del"]) for r in found}
    if most:
        assert written == {"appointments": (every, 0), "slot_claims": (every, 0)}
    else:
        assert written == {"appointments": (1, 1), "slot_claims": (0, 0)}
    assert rebuilt == live
