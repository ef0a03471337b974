"""POST/GET /sites, /staff and /rooms against real PostgreSQL and NATS."""

import uuid

import pytest

from tests.booking.integration.support import ELSEWHERE_KEY, Booking

pytestmark = pytest.mark.integration


async def test_a_registered_site_has_its_defaults_and_can_be_read_back(booking: Booking) -> None:
    created = await booking.created("/sites", {"name": "Harbor", "timezone": "Europe/Paris"})

    fetched = await booking.get(f"/sites/{created['id']}")
    listed = await booking.get("/sites")

    assert created["locale"] == "en"
    assert created["late_cancellation_window"] == "PT24H"
    assert fetched.status_code == 200
    assert fetched.json() == created
    assert created in listed.json()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Olympus_Mons"),
        ("timezone", "../../etc/passwd"),
        ("locale", "not a locale"),
        ("late_cancellation_window", "P1M"),
        ("late_cancellation_window", "24 hours"),
        ("late_cancellation_window", "P99999999999D"),
        ("name", "Harbor\u0000"),  # PostgreSQL text cannot hold NUL
    ],
)
async def test_a_site_with_a_bad_value_is_422_naming_the_field(
    booking: Booking, field: str, value: str
) -> None:
    body = {"name": "Harbor", "timezone": "Europe/Paris", field: value}

    answer = await booking.post("/sites", body)

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == [field]


async def test_one_422_names_every_bad_field_the_schema_and_the_rules_find(
    booking: Booking,
) -> None:
    """A blank name (the schema's) and an unknown zone and locale (the rules') in one answer,
    not one per try."""
    site = await booking.post(
        "/sites", {"name": "", "timezone": "Mars/Olympus_Mons", "locale": "not a locale"}
    )
    assert site.status_code == 422, site.text
    assert sorted(e["field"] for e in site.json()["errors"]) == ["locale", "name", "timezone"]

    harbor = await booking.created("/sites", {"name": "Harbor", "timezone": "Europe/Paris"})
    client = await booking.post(
        "/clients",
        {
            "site_id": harbor["id"],
            "name": "",
            "email": "not-an-address",
            "phone": "12",
            "timezone": "Nowhere/Town",
            "preferred_channel": "email",
        },
    )
    assert client.status_code == 422, client.text
    assert sorted(e["field"] for e in client.json()["errors"]) == [
        "email",
        "name",
        "phone",
        "timezone",
    ]
    by_field = {e["field"]: e["message"] for e in client.json()["errors"]}
    assert by_field["timezone"] == "must be an IANA time zone name such as Europe/Paris"


async def test_a_site_without_a_name_is_422(booking: Booking) -> None:
    answer = await booking.post("/sites", {"timezone": "Europe/Paris"})

    assert answer.status_code == 422
    assert "name" in [e["field"] for e in answer.json()["errors"]]


async def test_an_unknown_site_is_404(booking: Booking) -> None:
    answer = await booking.get(f"/sites/{uuid.uuid4()}")

    assert answer.status_code == 404
    assert answer.json()["status"] == 404


async def test_requests_without_a_valid_key_are_401(booking: Booking) -> None:
    missing = await booking.http.get("/sites")
    unknown = await booking.get("/sites", key="not-a-key")

    assert (missing.status_code, unknown.status_code) == (401, 401)


async def test_a_key_for_other_sites_cannot_see_or_change_this_one(booking: Booking) -> None:
    site = await booking.site()

    read = await booking.get(f"/sites/{site['id']}", key=ELSEWHERE_KEY)
    listed = await booking.get("/sites", key=ELSEWHERE_KEY)
    staff = await booking.post(
        "/staff",
        {"site_id": site["id"], "name": "A", "role": "counselor", "email": "a@b.example"},
        key=ELSEWHERE_KEY,
    )
    new_site = await booking.post("/sites", {"name": "X", "timezone": "UTC"}, key=ELSEWHERE_KEY)

    assert (read.status_code, staff.status_code, new_site.status_code) == (403, 403, 403)
    assert listed.json() == []


async def test_a_staff_member_takes_the_site_locale_and_is_listed_by_site(
    booking: Booking,
) -> None:
    site = await booking.site(locale="ko")
    other = await booking.site(locale="fr")
    member = await booking.counselor(site["id"], phone=None)
    await booking.counselor(other["id"])
    explicit = await booking.counselor(site["id"], locale="en", role="crisis_line")

    fetched = await booking.get(f"/staff/{member['id']}")
    at_site = await booking.get("/staff", site_id=site["id"])
    crisis_line = await booking.get("/staff", site_id=site["id"], role="crisis_line")

    assert member["locale"] == "ko"
    assert member["phone"] is None
    assert explicit["locale"] == "en"
    assert fetched.json() == member
    assert {m["id"] for m in at_site.json()} == {member["id"], explicit["id"]}
    assert [m["id"] for m in crisis_line.json()] == [explicit["id"]]


async def test_staff_at_an_unknown_site_is_422_naming_site_id(booking: Booking) -> None:
    answer = await booking.post(
        "/staff",
        {"site_id": str(uuid.uuid4()), "name": "A", "role": "counselor", "email": "a@b.example"},
    )

    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["site_id"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "not-an-email"), ("role", "janitor"), ("phone", "call me"), ("locale", "??")],
)
async def test_staff_with_a_bad_value_is_422_naming_the_field(
    booking: Booking, field: str, value: str
) -> None:
    site = await booking.site()
    body = {"site_id": site["id"], "name": "A", "role": "counselor", "email": "a@b.example"}

    answer = await booking.post("/staff", body | {field: value})

    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == [field]


async def test_an_unknown_staff_member_is_404(booking: Booking) -> None:
    assert (await booking.get(f"/staff/{uuid.uuid4()}")).status_code == 404


async def test_rooms_are_registered_read_and_listed_by_site(booking: Booking) -> None:
    site = await booking.site()
    room = await booking.room(site["id"], "Garden room")

    fetched = await booking.get(f"/rooms/{room['id']}")
    listed = await booking.get("/rooms", site_id=site["id"])

    assert room["name"] == "Garden room"
    assert fetched.json() == room
    assert listed.json() == [room]


async def test_a_room_at_an_unknown_site_is_422_and_an_unknown_room_404(booking: Booking) -> None:
    bad_site = await booking.post("/rooms", {"site_id": str(uuid.uuid4()), "name": "R"})
    missing = await booking.get(f"/rooms/{uuid.uuid4()}")

    assert bad_site.status_code == 422
    assert [e["field"] for e in bad_site.json()["errors"]] == ["site_id"]
    assert missing.status_code == 404


async def test_the_openapi_document_describes_every_booking_endpoint(booking: Booking) -> None:
    paths = (await booking.http.get("/openapi.json")).json()["paths"]

    assert {
        "/sites",
        "/sites/{site_id}",
        "/staff",
        "/staff/{staff_id}",
        "/rooms",
        "/rooms/{room_id}",
        "/clients",
        "/clients/{client_id}",
        "/clients/{client_id}/episode/close",
        "/appointments",
        "/appointments/{appointment_id}",
        "/appointments/{appointment_id}/reschedule",
        "/appointments/{appointment_id}/cancel",
        "/appointments/{appointment_id}/no-show",
        "/appointments/{appointment_id}/complete",
    } <= paths.keys()
