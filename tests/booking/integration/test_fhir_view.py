"""The FHIR R4 view of booking, on real PostgreSQL and NATS. Every answer is validated with
the `fhir.resources` R4B models (R4's Appointment, Slot, Schedule and Bundle)."""

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.booking.integration.support import ELSEWHERE_KEY, Booking

pytestmark = pytest.mark.integration

FHIR_JSON = "application/fhir+json"


def valid_fhir(response: httpx.Response, resource_type: str) -> dict[str, Any]:
    """The answer, once it is `application/fhir+json` and validates as `resource_type`
    (every entry of a Bundle validating as its own resource type too)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    document: dict[str, Any] = response.json()
    assert document["resourceType"] == resource_type
    get_fhir_model_class(resource_type).model_validate(document)
    for entry in document.get("entry", []):
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return document


def resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    assert bundle["type"] == "searchset"
    return [e["resource"] for e in bundle.get("entry", [])]


@pytest.fixture(scope="module")
async def practice(booking: Booking) -> dict[str, Any]:
    """One appointment in each status, a room for the in-person one."""
    site = await booking.site()
    counselor = await booking.counselor(site["id"])
    other_counselor = await booking.counselor(site["id"])
    client = await booking.client(site["id"])
    room = await booking.room(site["id"])
    start = booking.at(hours=24)
    appointments = {
        "booked": await booking.appointment(
            counselor, client, start, modality="in_person", room_id=room["id"]
        ),
        "cancelled": await booking.appointment(counselor, client, start + timedelta(hours=2)),
        "noshow": await booking.appointment(counselor, client, start + timedelta(hours=4)),
        "fulfilled": await booking.appointment(counselor, client, start + timedelta(hours=6)),
        "elsewhere": await booking.appointment(
            other_counselor, await booking.client(site["id"]), start + timedelta(days=3)
        ),
    }
    cancel = {"reason": "client asked", "cancelled_by": "client"}
    response = await booking.post(f"/appointments/{appointments['cancelled']['id']}/cancel", cancel)
    assert response.status_code == 200, response.text
    booking.clock.advance(timedelta(hours=31))
    response = await booking.post(f"/appointments/{appointments['noshow']['id']}/no-show")
    assert response.status_code == 200, response.text
    complete = {"goal_horizon": "short_term", "goals": ["sleep better"]}
    fulfilled = appointments["fulfilled"]["id"]
    response = await booking.post(f"/appointments/{fulfilled}/complete", complete)
    assert response.status_code == 200, response.text
    return {
        "site": site,
        "counselor": counselor,
        "other_counselor": other_counselor,
        "client": client,
        "room": room,
        "appointments": appointments,
    }


async def test_an_appointment_reads_as_a_valid_fhir_appointment_with_references(
    booking: Booking, practice: dict[str, Any]
) -> None:
    booked = practice["appointments"]["booked"]

    response = await booking.get(f"/fhir/Appointment/{booked['id']}")
    resource = valid_fhir(response, "Appointment")

    assert resource["id"] == booked["id"]
    assert resource["status"] == "booked"
    assert resource["minutesDuration"] == 50
    actors = {p["actor"]["reference"] for p in resource["participant"]}
    assert actors == {
        f"Patient/{practice['client']['id']}",
        f"Practitioner/{practice['counselor']['id']}",
        f"Location/{practice['room']['id']}",
    }
    assert practice["client"]["name"] not in response.text


async def test_each_status_maps_to_its_fhir_appointment_status(
    booking: Booking, practice: dict[str, Any]
) -> None:
    for fhir_status in ("booked", "cancelled", "noshow", "fulfilled"):
        appointment_id = practice["appointments"][fhir_status]["id"]
        response = await booking.get(f"/fhir/Appointment/{appointment_id}")
        assert valid_fhir(response, "Appointment")["status"] == fhir_status


async def test_appointments_are_searched_by_patient_practitioner_and_date(
    booking: Booking, practice: dict[str, Any]
) -> None:
    client, counselor = practice["client"]["id"], practice["counselor"]["id"]
    first_start = practice["appointments"]["booked"]["start"]

    by_patient = valid_fhir(
        await booking.get("/fhir/Appointment", patient=f"Patient/{client}"), "Bundle"
    )
    assert len(resources(by_patient)) == 4
    assert by_patient["total"] == 4

    day = first_start[:10]
    by_all = valid_fhir(
        await booking.get(
            "/fhir/Appointment",
            practitioner=f"Practitioner/{counselor}",
            date=f"ge{day}",
        ),
        "Bundle",
    )
    assert {r["status"] for r in resources(by_all)} == {
        "booked",
        "cancelled",
        "noshow",
        "fulfilled",
    }

    none_before = valid_fhir(
        await booking.get("/fhir/Appointment", practitioner=counselor, date=f"lt{day}"), "Bundle"
    )
    assert resources(none_before) == []


async def test_a_search_answers_a_page_at_a_time_with_a_next_link(
    booking: Booking, practice: dict[str, Any]
) -> None:
    client = practice["client"]["id"]
    first = valid_fhir(await booking.get("/fhir/Appointment", patient=client, limit="3"), "Bundle")
    [next_link] = [link["url"] for link in first["link"] if link["relation"] == "next"]
    second = valid_fhir(await booking.http.get(next_link, headers=_admin()), "Bundle")
    ids = [r["id"] for r in resources(first) + resources(second)]
    assert len(ids) == len(set(ids)) == 4


async def test_slots_are_the_busy_times_of_a_schedule_and_schedules_name_practitioners(
    booking: Booking, practice: dict[str, Any]
) -> None:
    counselor = practice["counselor"]["id"]

    slots = resources(
        valid_fhir(await booking.get("/fhir/Slot", schedule=f"Schedule/{counselor}"), "Bundle")
    )
    schedules = resources(
        valid_fhir(await booking.get("/fhir/Schedule", actor=f"Practitioner/{counselor}"), "Bundle")
    )

    cancelled = practice["appointments"]["cancelled"]["id"]
    assert len(slots) == 3
    assert cancelled not in {s["id"] for s in slots}
    assert {s["status"] for s in slots} == {"busy"}
    assert {s["schedule"]["reference"] for s in slots} == {f"Schedule/{counselor}"}
    [schedule] = schedules
    assert schedule["id"] == counselor
    assert schedule["actor"] == [{"reference": f"Practitioner/{counselor}"}]

    later = practice["appointments"]["elsewhere"]["start"]
    all_slots = valid_fhir(await booking.get("/fhir/Slot", start=f"ge{later[:10]}"), "Bundle")
    assert [s["id"] for s in resources(all_slots)] == [practice["appointments"]["elsewhere"]["id"]]


async def test_bad_search_values_are_422_and_other_sites_are_hidden(
    booking: Booking, practice: dict[str, Any]
) -> None:
    assert (await booking.get("/fhir/Appointment", date="yesterday")).status_code == 422
    assert (await booking.get("/fhir/Appointment", patient="Patient/42")).status_code == 422
    booked = practice["appointments"]["booked"]["id"]
    assert (await booking.get(f"/fhir/Appointment/{booked}", key=ELSEWHERE_KEY)).status_code == 403
    hidden = valid_fhir(
        await booking.get("/fhir/Appointment", key=ELSEWHERE_KEY, patient=practice["client"]["id"]),
        "Bundle",
    )
    assert resources(hidden) == []
    missing = await booking.get("/fhir/Appointment/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404


def _admin() -> dict[str, str]:
    return {"Authorization": "Bearer dev-admin-key"}
