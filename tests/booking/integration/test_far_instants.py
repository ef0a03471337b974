"""Instants and dates at the edges of the calendar are a 422 naming the field, never a 5xx.

Contract, Conventions: "A 5xx is always a bug". Year 1 or 9999 in a query once overflowed
booking's arithmetic (a 500), and an episode closed "on 9999-12-31" was accepted, then failed
followup's handler (its post-closure check-ins fell past year 9999) until dead-lettered."""

from typing import Any

import pytest

from tests.booking.integration.support import Booking

pytestmark = pytest.mark.integration

FAR = ("0001-01-01T00:00:00Z", "9999-12-31T23:00:00Z", "0001-01-01T00:00:00+14:00")


@pytest.fixture(scope="module")
async def people(booking: Booking) -> dict[str, Any]:
    site = await booking.site()
    return {
        "site": site,
        "counselor": await booking.counselor(site["id"]),
        "client": await booking.client(site["id"]),
    }


async def test_far_instants_in_queries_are_a_422_naming_the_parameter(
    booking: Booking, people: dict[str, Any]
) -> None:
    site, counselor = people["site"]["id"], people["counselor"]["id"]
    for at in FAR:
        listed = await booking.get("/appointments", **{"from": at})
        assert listed.status_code == 422, (at, listed.text)
        assert [e["field"] for e in listed.json()["errors"]] == ["query.from"]
        free = await booking.get(
            "/availability",
            site_id=site,
            counselor_id=counselor,
            **{"from": at, "to": "2030-01-01T00:00:00Z"},
        )
        assert free.status_code == 422, (at, free.text)
    # The window stays wide: a far but real instant is still answered.
    assert (await booking.get("/appointments", to="2999-01-01T00:00:00Z")).status_code == 200


async def test_far_dates_in_fhir_searches_are_a_422(
    booking: Booking, people: dict[str, Any]
) -> None:
    counselor = people["counselor"]["id"]
    for value in ("ge9999-12-31", "le0001-01-01", "lt0001-01-01T00:00:00+14:00"):
        answer = await booking.get("/fhir/Appointment", date=value)
        assert answer.status_code == 422, (value, answer.text)
        slots = await booking.get("/fhir/Slot", schedule=f"Schedule/{counselor}", start=value)
        assert slots.status_code == 422, (value, slots.text)


async def test_an_episode_closed_on_a_far_date_is_refused(
    booking: Booking, people: dict[str, Any]
) -> None:
    client = people["client"]["id"]
    for day in ("9999-12-31", "0001-01-01"):
        answer = await booking.post(
            f"/clients/{client}/episode/close", {"reason": "moved", "effective_on": day}
        )
        assert answer.status_code == 422, (day, answer.text)
        assert [e["field"] for e in answer.json()["errors"]] == ["effective_on"]
