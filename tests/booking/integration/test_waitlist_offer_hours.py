"""A slot freed at night is not offered to the waitlist until the offer window opens
(`WAITLIST_OFFER_HOURS`, 08:00-20:00 in the site's zone by default): an offer made at 22:00
would reach the client after their quiet hours, long expired, and by morning every waiting
client would have been offered the slot once and none could be offered it again.

The clock is a hand clock; after moving it the tests wake the timers with an empty NOTIFY
(`pg_notify(channel, '')`: look now), as time passing would have."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from booking.adapters.deferred_store import DEFERRED_TIMER_CHANNEL
from booking.adapters.scheduling_store import HOLD_TIMER_CHANNEL
from counseling_shared.clock import ControllableClock
from counseling_shared.db import connect
from tests.booking.integration.support import Booking, eventually, running_booking

pytestmark = pytest.mark.integration

BERLIN = ZoneInfo("Europe/Berlin")
TEN_PM = datetime(2030, 6, 4, 22, 0, tzinfo=BERLIN)


def _berlin(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, 6, day, hour, minute, tzinfo=BERLIN)


@pytest.fixture
async def clock() -> ControllableClock:
    return ControllableClock(TEN_PM - timedelta(hours=1))


@pytest.fixture
async def booking(
    database_url: str, nats_url: str, clock: ControllableClock
) -> AsyncIterator[Booking]:
    async with running_booking(database_url, nats_url, clock) as svc:
        yield svc


async def _wake(booking: Booking, *channels: str) -> None:
    conn = await connect(booking.database_url)
    try:
        for channel in channels:
            await conn.execute("SELECT pg_notify($1, '')", channel)
    finally:
        await conn.close()


async def _offers(booking: Booking, entry: dict[str, Any]) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = (await booking.get(f"/waitlist/{entry['id']}")).json()["offers"]
    return answer


async def _deferred(booking: Booking, site: dict[str, Any]) -> list[dict[str, Any]]:
    conn = await connect(booking.database_url)
    try:
        rows = await conn.fetch(
            """SELECT status, start_at, due_at FROM waitlist_deferred_slots
               WHERE site_id = $1 ORDER BY start_at""",
            UUID(site["id"]),
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def _practice(booking: Booking) -> dict[str, Any]:
    site = await booking.site(name="Praxis Mitte", timezone="Europe/Berlin", locale="de")
    counselor = await booking.counselor(site["id"])
    waiting = []
    for _ in range(3):
        client = await booking.client(site["id"])
        waiting.append(
            await booking.created("/waitlist", {"client_id": client["id"], "site_id": site["id"]})
        )
        booking.clock.advance(timedelta(seconds=1))  # served in order of joining
    return {"site": site, "counselor": counselor, "waiting": waiting}


async def _cancel(booking: Booking, appointment: dict[str, Any]) -> None:
    answer = await booking.post(
        f"/appointments/{appointment['id']}/cancel", {"reason": "ill", "cancelled_by": "client"}
    )
    assert answer.status_code == 200, answer.text


async def test_a_slot_freed_at_ten_pm_is_offered_at_eight_and_only_then_to_the_next(
    booking: Booking, clock: ControllableClock
) -> None:
    practice = await _practice(booking)
    first, second, third = practice["waiting"]
    site = practice["site"]
    booked_client = await booking.client(site["id"])
    taken = await booking.appointment(practice["counselor"], booked_client, _berlin(5, 14))
    clock.set(TEN_PM)

    await _cancel(booking, taken)

    # The old code offered it here, at 22:00, held for 15 minutes, and the hold timer passed
    # it on every 15 minutes all night.
    for entry in (first, second, third):
        assert await _offers(booking, entry) == []
    [deferred] = await _deferred(booking, site)
    assert deferred["status"] == "waiting"
    assert deferred["due_at"] == _berlin(5, 8).astimezone(UTC)

    clock.set(_berlin(5, 8))
    await _wake(booking, DEFERRED_TIMER_CHANNEL)

    [offer] = await eventually(lambda: _offers(booking, first))
    assert offer["status"] == "open"
    assert datetime.fromisoformat(offer["expires_at"]) == _berlin(5, 8, 15)
    assert datetime.fromisoformat(offer["start"]) == _berlin(5, 14)
    assert [d["status"] for d in await _deferred(booking, site)] == ["released"]
    assert await _offers(booking, second) == []

    clock.set(_berlin(5, 8, 15))  # inside the window the chain goes on as before
    await _wake(booking, HOLD_TIMER_CHANNEL)
    [passed_on] = await eventually(lambda: _offers(booking, second))
    assert passed_on["status"] == "open"
    assert [o["status"] for o in await _offers(booking, first)] == ["expired"]
    assert await _offers(booking, third) == []


async def test_a_slot_booked_overnight_or_starting_before_the_window_is_not_offered(
    clock: ControllableClock, database_url: str, nats_url: str
) -> None:
    async with running_booking(database_url, nats_url, clock) as booking:
        practice = await _practice(booking)
        site, counselor = practice["site"], practice["counselor"]
        other = await booking.counselor(site["id"])
        starts = [
            (counselor, _berlin(5, 7)),
            (counselor, _berlin(5, 8, 10)),
            (other, _berlin(5, 8, 20)),
            (counselor, _berlin(5, 16)),
            (counselor, _berlin(5, 18)),
        ]
        taken = [
            await booking.appointment(whose, await booking.client(site["id"]), start)
            for whose, start in starts
        ]
        clock.set(TEN_PM)

        for appointment in taken:
            await _cancel(booking, appointment)

        # 07:00 starts before the window opens, 08:10 less than an offer's 15 minutes after.
        assert [d["start_at"] for d in await _deferred(booking, site)] == [
            _berlin(5, 8, 20).astimezone(UTC),
            _berlin(5, 16).astimezone(UTC),
            _berlin(5, 18).astimezone(UTC),
        ]
        clock.set(_berlin(5, 1))
        someone = await booking.client(site["id"])
        await booking.appointment(counselor, someone, _berlin(5, 16))  # still bookable at night

    # The process stops overnight: the deferred slots are rows, and the next one offers them,
    # late (08:06): the 08:20 slot no longer leaves an offer its 15 minutes, the 16:00 one was
    # booked meanwhile, the 18:00 one goes to the first entry.
    async with running_booking(database_url, nats_url, clock) as again:
        clock.set(_berlin(5, 8, 6))
        await _wake(again, DEFERRED_TIMER_CHANNEL)

        async def released() -> bool:
            return all(d["status"] == "released" for d in await _deferred(again, site))

        assert await eventually(released)
        [offer] = await _offers(again, practice["waiting"][0])
        assert datetime.fromisoformat(offer["start"]) == _berlin(5, 18)
        assert offer["status"] == "open"
        assert await _offers(again, practice["waiting"][1]) == []
