"""POST/GET /clients and closing an episode of care."""

import uuid

import pytest

from tests.booking.integration.support import Booking

pytestmark = pytest.mark.integration


async def test_a_client_takes_the_site_locale_and_timezone_and_shows_contact_details(
    booking: Booking,
) -> None:
    site = await booking.site(locale="ru", timezone="Europe/Moscow")

    created = await booking.client(
        site["id"], name="Anna", phone="+7 495 000 0000", preferred_channel="sms"
    )
    fetched = await booking.get(f"/clients/{created['id']}")

    assert created["locale"] == "ru"
    assert created["timezone"] == "Europe/Moscow"
    assert created["episode"]["status"] == "open"
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "Anna"
    assert fetched.json()["phone"] == "+7 495 000 0000"
    assert fetched.json()["email"] == "client@mail.example"


@pytest.mark.parametrize(
    ("channel", "given", "missing"),
    [
        ("sms", {"email": "c@mail.example"}, "phone"),
        ("phone", {"email": "c@mail.example"}, "phone"),
        ("email", {"phone": "+1 555 0100 200"}, "email"),
    ],
)
async def test_a_preferred_channel_without_its_address_is_422_naming_the_address(
    booking: Booking, channel: str, given: dict[str, str], missing: str
) -> None:
    site = await booking.site()
    body = {"site_id": site["id"], "name": "B", "preferred_channel": channel} | given

    answer = await booking.post("/clients", body)

    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == [missing]


async def test_a_client_with_bad_values_is_422_naming_each_field(booking: Booking) -> None:
    site = await booking.site()

    answer = await booking.post(
        "/clients",
        {
            "site_id": site["id"],
            "name": "C",
            "email": "nope",
            "timezone": "Nowhere/Town",
            "preferred_channel": "email",
        },
    )
    unknown_site = await booking.post(
        "/clients",
        {
            "site_id": str(uuid.uuid4()),
            "name": "C",
            "preferred_channel": "email",
            "email": "c@mail.example",
        },
    )

    assert answer.status_code == 422
    assert sorted(e["field"] for e in answer.json()["errors"]) == ["email", "timezone"]
    assert [e["field"] for e in unknown_site.json()["errors"]] == ["site_id"]


async def test_an_unknown_client_is_404(booking: Booking) -> None:
    assert (await booking.get(f"/clients/{uuid.uuid4()}")).status_code == 404


async def test_closing_an_episode_records_the_referral_and_cannot_be_done_twice(
    booking: Booking,
) -> None:
    site = await booking.site()
    client = await booking.client(site["id"])
    body = {
        "reason": "referred",
        "effective_on": "2030-03-31",
        "referral": {"to": "Eating disorder clinic", "contact": "+82 2 555 0199"},
    }

    closed = await booking.post(f"/clients/{client['id']}/episode/close", body)
    again = await booking.post(f"/clients/{client['id']}/episode/close", body)
    fetched = await booking.get(f"/clients/{client['id']}")

    assert closed.status_code == 200, closed.text
    assert closed.json()["client_id"] == client["id"]
    assert closed.json()["status"] == "closed"
    assert closed.json()["referred"] is True
    assert closed.json()["effective_on"] == "2030-03-31"
    assert again.status_code == 409
    assert fetched.json()["episode"]["referral"]["to"] == "Eating disorder clinic"


async def test_closing_the_episode_of_an_unknown_client_is_404_and_a_bad_reason_422(
    booking: Booking,
) -> None:
    site = await booking.site()
    client = await booking.client(site["id"])

    unknown = await booking.post(
        f"/clients/{uuid.uuid4()}/episode/close",
        {"reason": "moved", "effective_on": "2030-01-01"},
    )
    bad = await booking.post(
        f"/clients/{client['id']}/episode/close",
        {"reason": "bored", "effective_on": "yesterday"},
    )

    assert unknown.status_code == 404
    assert bad.status_code == 422
    assert sorted(e["field"] for e in bad.json()["errors"]) == ["effective_on", "reason"]


async def test_booking_a_client_after_closure_opens_the_next_episode(booking: Booking) -> None:
    site = await booking.site()
    counselor = await booking.counselor(site["id"])
    client = await booking.client(site["id"])
    await booking.post(
        f"/clients/{client['id']}/episode/close", {"reason": "moved", "effective_on": "2030-01-01"}
    )

    await booking.appointment(counselor, client, booking.at(hours=5))
    episode = (await booking.get(f"/clients/{client['id']}")).json()["episode"]

    assert (episode["number"], episode["status"]) == (2, "open")
