"""PATCH /staff/{id} (an extension beyond the contract) and `counselctl staff reannounce`:
what changes, what is refused, and the StaffRegistered each one publishes again."""

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest

from booking.application.reannounce import reannounce_staff
from counseling_shared.clock import ControllableClock
from counseling_shared.db import connect
from tests.booking.integration.support import (
    ADMIN_KEY,
    ELSEWHERE_KEY,
    Booking,
    running_booking,
    site_events,
)
from tests.staff_keys import staff_key_entry

pytestmark = pytest.mark.integration

OWN_KEY = "key-of-the-member-themself"


async def _patch(
    booking: Booking, staff_id: str, body: object, key: str = ADMIN_KEY, **headers: str
) -> httpx.Response:
    return await booking.http.patch(
        f"/staff/{staff_id}", json=body, headers={"Authorization": f"Bearer {key}", **headers}
    )


def _registered(events: list[tuple[str, dict[str, Any], bytes]]) -> list[dict[str, Any]]:
    return [e["data"] for s, e, _ in events if s.endswith(".StaffRegistered")]


async def test_a_changed_phone_reads_back_and_is_announced_with_the_whole_snapshot(
    booking: Booking,
) -> None:
    site = await booking.site()
    member = await booking.counselor(site["id"], locale="ko")

    answer = await _patch(booking, member["id"], {"phone": "+82 10 9999 0000", "locale": "en"})

    assert answer.status_code == 200, answer.text
    read = (await booking.get(f"/staff/{member['id']}")).json()
    assert (read["phone"], read["locale"]) == ("+82 10 9999 0000", "en")
    assert (read["name"], read["email"]) == (member["name"], member["email"])
    # SiteRegistered, the registration's StaffRegistered, then the change's.
    announced = _registered(await site_events(booking.nats_url, site["id"], 3))
    assert announced[1] == {
        "staff_id": member["id"],
        "site_id": site["id"],
        "name": member["name"],
        "role": "counselor",
        "email": member["email"],
        "phone": "+82 10 9999 0000",
        "locale": "en",
    }


async def test_a_null_phone_removes_it_and_other_fields_stay(booking: Booking) -> None:
    site = await booking.site()
    member = await booking.counselor(site["id"])

    answer = await _patch(booking, member["id"], {"phone": None, "name": "  Dr. Park  "})

    assert answer.status_code == 200, answer.text
    assert (answer.json()["phone"], answer.json()["name"]) == (None, "Dr. Park")
    announced = _registered(await site_events(booking.nats_url, site["id"], 3))
    assert (announced[1]["phone"], announced[1]["email"]) == (None, member["email"])


async def test_a_change_that_changes_nothing_records_and_announces_nothing(
    booking: Booking,
) -> None:
    site = await booking.site()
    member = await booking.counselor(site["id"])

    answer = await _patch(booking, member["id"], {"email": member["email"]})

    assert answer.status_code == 200, answer.text
    assert await _stored_events(booking, member["id"]) == ["StaffMemberRegistered"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"email": "not-an-address"}, ["email"]),
        ({"phone": "call me"}, ["phone"]),
        ({"locale": "!!"}, ["locale"]),
        ({"name": "   "}, ["name"]),
        ({"email": "x@y", "phone": "12", "locale": "english please"}, ["email", "phone", "locale"]),
    ],
)
async def test_details_are_checked_as_on_registration(
    booking: Booking, body: dict[str, Any], fields: list[str]
) -> None:
    site = await booking.site()
    member = await booking.counselor(site["id"])

    answer = await _patch(booking, member["id"], body)

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert sorted(e["field"] for e in answer.json()["errors"]) == sorted(fields)
    assert (await booking.get(f"/staff/{member['id']}")).json() == member


@pytest.mark.parametrize(
    "body",
    [{}, {"role": "supervisor"}, {"phone": "+33 6 12 34 56 78", "site_id": None}, {"email": None}],
    ids=["empty", "role-is-not-changeable", "unknown-field", "null-email"],
)
async def test_an_empty_body_an_unknown_field_or_a_null_other_than_phone_is_a_422(
    booking: Booking, body: dict[str, Any]
) -> None:
    site = await booking.site()
    member = await booking.counselor(site["id"])

    answer = await _patch(booking, member["id"], body)

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert await _stored_events(booking, member["id"]) == ["StaffMemberRegistered"]


async def test_an_unknown_member_is_a_404_and_a_deactivated_one_a_409(booking: Booking) -> None:
    site = await booking.site()
    member = await booking.counselor(site["id"])
    assert (await booking.post(f"/staff/{member['id']}/deactivate")).status_code == 200

    unknown = await _patch(booking, "6b0d9a8e-0c1f-4f39-9d59-3f5a2f6c0001", {"name": "X"})
    left = await _patch(booking, member["id"], {"phone": "+82 10 1111 2222"})

    assert unknown.status_code == 404
    assert left.status_code == 409
    assert left.headers["content-type"] == "application/problem+json"


async def test_a_key_of_another_site_is_refused(booking: Booking) -> None:
    site = await booking.site()
    member = await booking.counselor(site["id"])

    answer = await _patch(booking, member["id"], {"name": "X"}, key=ELSEWHERE_KEY)

    assert answer.status_code == 403


@pytest.fixture
async def with_own_key(booking: Booking) -> AsyncIterator[tuple[Booking, dict[str, Any]]]:
    """A booking replica knowing a `staff` key of one member, and a colleague of theirs."""
    site = await booking.site()
    member, colleague = await booking.counselor(site["id"]), await booking.counselor(site["id"])
    keys = f"{ADMIN_KEY},{staff_key_entry(OWN_KEY, site['id'], member['id'])}"
    clock = ControllableClock(booking.clock.now())
    async with running_booking(booking.database_url, booking.nats_url, clock, keys) as replica:
        yield replica, {"member": member, "colleague": colleague}


async def test_a_staff_key_changes_its_own_details_only(
    with_own_key: tuple[Booking, dict[str, Any]],
) -> None:
    replica, people = with_own_key

    own = await _patch(replica, people["member"]["id"], {"phone": "+82 10 3333 4444"}, OWN_KEY)
    other = await _patch(replica, people["colleague"]["id"], {"phone": "+1 555 0100"}, OWN_KEY)

    assert own.status_code == 200, own.text
    assert other.status_code == 403
    assert (await replica.get(f"/staff/{people['colleague']['id']}")).json()["phone"] == (
        people["colleague"]["phone"]
    )
    trail = await replica.get("/audit", actor_id=people["member"]["id"])
    assert [
        (e["action"], e["resource_id"], e["site_id"], e["status"]) for e in trail.json()["items"]
    ] == [
        ("change_staff_contact", people["member"]["id"], people["member"]["site_id"], 200),
        ("change_staff_contact", people["colleague"]["id"], None, 403),
    ]


async def test_a_replayed_idempotency_key_changes_and_announces_once(booking: Booking) -> None:
    site = await booking.site()
    member = await booking.counselor(site["id"])
    body = {"phone": "+82 10 5555 6666"}

    first = await _patch(booking, member["id"], body, **{"Idempotency-Key": "change-1"})
    again = await _patch(booking, member["id"], body, **{"Idempotency-Key": "change-1"})

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert await _stored_events(booking, member["id"]) == [
        "StaffMemberRegistered",
        "StaffMemberContactChanged",
    ]


async def test_reannouncing_publishes_every_active_member_of_the_site_unchanged(
    booking: Booking,
) -> None:
    site, elsewhere = await booking.site(), await booking.site()
    first, second = await booking.counselor(site["id"]), await booking.counselor(site["id"])
    left = await booking.counselor(site["id"])
    other = await booking.counselor(elsewhere["id"])
    assert (await booking.post(f"/staff/{left['id']}/deactivate")).status_code == 200

    conn = await connect(booking.database_url)
    try:
        announced = await reannounce_staff(conn, UUID(site["id"]))
    finally:
        await conn.close()

    assert announced == 2
    # SiteRegistered, three StaffRegistered, StaffDeactivated, then the two announced again.
    events = await site_events(booking.nats_url, site["id"], 7)
    again = sorted(_registered(events[5:]), key=lambda e: e["staff_id"])
    assert again == sorted([_snapshot(first), _snapshot(second)], key=lambda e: e["staff_id"])
    for member in (first, second):
        assert await _stored_events(booking, member["id"]) == [
            "StaffMemberRegistered",
            "StaffMemberAnnouncedAgain",
        ]
        assert (await booking.get(f"/staff/{member['id']}")).json() == member
    assert await _stored_events(booking, left["id"]) == [
        "StaffMemberRegistered",
        "StaffMemberDeactivated",
    ]
    assert await _stored_events(booking, other["id"]) == ["StaffMemberRegistered"]


def _snapshot(member: dict[str, Any]) -> dict[str, Any]:
    keys = ("site_id", "name", "role", "email", "phone", "locale")
    return {"staff_id": member["id"], **{k: member[k] for k in keys}}


async def _stored_events(booking: Booking, staff_id: str) -> list[str]:
    conn = await connect(booking.database_url)
    try:
        rows = await conn.fetch(
            "SELECT type FROM events WHERE stream_id = $1 ORDER BY version", f"staff-{staff_id}"
        )
    finally:
        await conn.close()
    return [r["type"] for r in rows]
