"""A counselor's calendar feed on real PostgreSQL and NATS: parsed with `icalendar`."""

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from icalendar import Calendar

from counseling_shared.clock import ControllableClock
from counseling_shared.http.private_pages import PRIVATE_FEED_HEADERS
from tests.booking.integration.support import ADMIN_KEY, Booking, running_booking

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def practice(booking: Booking) -> dict[str, Any]:
    site = await booking.site()
    return {
        "site": site,
        "counselor": await booking.counselor(site["id"]),
        "colleague": await booking.counselor(site["id"]),
        "client": await booking.client(site["id"]),
        "room": await booking.room(site["id"], name="Blue room"),
    }


async def feed_url(booking: Booking, staff_id: str, key: str = ADMIN_KEY) -> str:
    response = await booking.get(f"/staff/{staff_id}/calendar-url", key=key)
    assert response.status_code == 200, response.text
    url = urlsplit(response.json()["url"])
    return f"{url.path}?{url.query}"


async def events(booking: Booking, url: str) -> dict[str, Any]:
    response = await booking.http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    for name, value in PRIVATE_FEED_HEADERS.items():  # the token is in the URL
        assert response.headers[name] == value
    calendar = Calendar.from_ical(response.content)
    return {str(e["uid"]): e for e in calendar.walk("VEVENT")}


async def test_the_feed_shows_sessions_without_client_names_and_a_cancellation(
    booking: Booking, practice: dict[str, Any]
) -> None:
    counselor, client = practice["counselor"], practice["client"]
    kept = await booking.appointment(
        counselor,
        client,
        booking.at(hours=24),
        modality="in_person",
        room_id=practice["room"]["id"],
    )
    moved = await booking.appointment(counselor, client, booking.at(hours=48))
    dropped = await booking.appointment(counselor, client, booking.at(hours=72))
    url = await feed_url(booking, counselor["id"])

    before = await events(booking, url)
    for _ in range(2):
        body = {"start": booking.at(hours=96 + _).isoformat()}
        answer = await booking.post(f"/appointments/{moved['id']}/reschedule", body)
        assert answer.status_code == 200, answer.text
    cancel = {"reason": "family matters", "cancelled_by": "client"}
    assert (await booking.post(f"/appointments/{dropped['id']}/cancel", cancel)).status_code == 200
    after = await events(booking, url)

    uids = {f"{a['id']}@booking" for a in (kept, moved, dropped)}
    assert set(before) == set(after) == uids  # stable UIDs
    assert int(before[f"{moved['id']}@booking"]["sequence"]) == 0
    assert int(after[f"{moved['id']}@booking"]["sequence"]) == 2
    assert after[f"{moved['id']}@booking"].decoded("dtstart") == booking.at(hours=97)
    assert str(after[f"{dropped['id']}@booking"]["status"]) == "CANCELLED"
    assert int(after[f"{dropped['id']}@booking"]["sequence"]) == 1
    assert str(after[f"{kept['id']}@booking"]["status"]) == "CONFIRMED"
    assert str(after[f"{kept['id']}@booking"]["location"]) == "Blue room"
    text = (await booking.http.get(url)).text
    assert client["name"] not in text
    assert "family matters" not in text

    # A cancellation stays 30 days, then leaves the feed.
    booking.clock.advance(timedelta(days=29))
    assert f"{dropped['id']}@booking" in await events(booking, url)
    booking.clock.advance(timedelta(days=2))
    assert f"{dropped['id']}@booking" not in await events(booking, url)


async def test_a_link_is_refused_when_altered_revoked_or_for_someone_else(
    booking: Booking, practice: dict[str, Any]
) -> None:
    counselor, colleague = practice["counselor"]["id"], practice["colleague"]["id"]
    url = await feed_url(booking, counselor)
    assert (await booking.http.get(url)).status_code == 200

    altered = url[:-3] + ("abc" if not url.endswith("abc") else "xyz")
    assert (await booking.http.get(altered)).status_code == 403
    other = url.replace(counselor, colleague)
    assert (await booking.http.get(other)).status_code == 403

    revoke = await booking.http.delete(
        f"/staff/{counselor}/calendar-links", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )
    assert revoke.status_code == 204
    refused = await booking.http.get(url)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await booking.http.get(await feed_url(booking, counselor))).status_code == 200


async def test_a_deactivated_staff_members_feed_is_refused(
    booking: Booking, practice: dict[str, Any]
) -> None:
    leaving = (await booking.counselor(practice["site"]["id"]))["id"]
    url = await feed_url(booking, leaving)
    assert (await booking.http.get(url)).status_code == 200

    deactivated = await booking.post(f"/staff/{leaving}/deactivate")
    assert deactivated.status_code == 200, deactivated.text

    assert (await booking.http.get(url)).status_code == 403


async def test_an_expired_link_is_410(booking: Booking, practice: dict[str, Any]) -> None:
    url = await feed_url(booking, practice["counselor"]["id"])
    booking.clock.advance(timedelta(days=366))
    assert (await booking.http.get(url)).status_code == 410


async def test_an_expired_link_used_on_another_calendar_is_403_not_410(
    booking: Booking, practice: dict[str, Any]
) -> None:
    """A 410 would tell whoever holds it that the token was once valid for something."""
    counselor, colleague = practice["counselor"]["id"], practice["colleague"]["id"]
    url = await feed_url(booking, counselor)
    booking.clock.advance(timedelta(days=366))
    elsewhere = await booking.http.get(url.replace(counselor, colleague))
    assert elsewhere.status_code == 403
    assert elsewhere.json()["type"].endswith("/link-invalid")
    assert (await booking.http.get(url)).status_code == 410  # its own calendar: expired


@pytest.fixture
async def with_staff_keys(booking: Booking, practice: dict[str, Any]) -> AsyncIterator[Booking]:
    """A second booking replica on the same database, knowing staff and integration keys."""
    site = practice["site"]["id"]
    keys = ",".join(
        [
            ADMIN_KEY,
            f"own-key;role=staff;sites={site};staff={practice['counselor']['id']}",
            f"colleague-key;role=staff;sites={site};staff={practice['colleague']['id']}",
            f"integration-key;role=integration;sites={site}",
        ]
    )
    clock = ControllableClock(booking.clock.now())
    async with running_booking(
        booking.database_url, booking.nats_url, clock, api_keys=keys
    ) as replica:
        yield replica


async def test_a_link_is_issued_to_the_staff_member_or_an_admin_only(
    with_staff_keys: Booking, practice: dict[str, Any]
) -> None:
    counselor = practice["counselor"]["id"]
    path = f"/staff/{counselor}/calendar-url"
    assert (await with_staff_keys.get(path, key="own-key")).status_code == 200
    assert (await with_staff_keys.get(path, key="colleague-key")).status_code == 403
    assert (await with_staff_keys.get(path, key="integration-key")).status_code == 403
