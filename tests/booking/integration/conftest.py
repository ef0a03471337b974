from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from booking.adapters import claims
from counseling_shared.clock import ControllableClock
from counseling_shared.db import connect
from tests.booking.integration.support import Booking, running_booking

START = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def booking(database_url: str, nats_url: str) -> AsyncIterator[Booking]:
    """Booking served on a free port over this module's fresh database, on a hand clock."""
    async with running_booking(database_url, nats_url, ControllableClock(START)) as svc:
        yield svc
        # Whatever a module wrote, each booked appointment is left with its slot claim, the
        # row through which slot_claims' constraints keep it apart from holds.
        conn = await connect(svc.database_url)
        try:
            assert await claims.unmirrored(conn) == []
        finally:
            await conn.close()
