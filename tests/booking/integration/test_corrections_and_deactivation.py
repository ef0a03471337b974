"""PATCH /clients/{id} and POST /staff/{id}/deactivate over HTTP: what changes, what is
published, and what booking refuses afterwards."""

import uuid

import httpx
import pytest

from tests.booking.integration.support import ADMIN_KEY, ELSEWHERE_KEY, Booking, site_events

pytestmark = pytest.mark.integration


async def _patch(booking: Booking, path: str, body: object, key: str = ADMIN_KEY) -> httpx.Response:
    return await booking.http.patch(path, json=body, headers={"Authorization": f"Bearer {key}"})


async def test_a_corrected_client_reads_back_and_the_bus_hears_no_contact_detail(
    booking: Booking,
) -> None:
    site = await booking.site()
    client = await booking.client(site["id"])
    new_email = f"fixed-{uuid.uuid4().hex[:6]}@mail.example"

    answer = await _patch(
        booking,
        f"/clients/{client['id']}",
        {"name": "Corrected Name", "email": new_email, "timezone": "Europe/Paris"},
    )

    assert answer.status_code == 200, answer.text
    read = (await booking.get(f"/clients/{client['id']}")).json()
    assert (read["name"], read["email"], read["timezone"]) == (
        "Corrected Name",
        new_email,
        "Europe/Paris",
    )
    assert read["phone"] == client["phone"]
    *_, changed = await site_events(booking.nats_url, site["id"], 3)
    assert changed[0].endswith(".ClientContactChanged")
    assert changed[1]["data"] == {
        "client_id": client["id"],
        "site_id": site["id"],
        "preferred_channel": "email",
        "locale": read["locale"],
        "timezone": "Europe/Paris",
    }
    assert b"Corrected Name" not in changed[2]
    assert new_email.encode() not in changed[2]


async def test_a_correction_leaving_the_channel_without_an_address_is_a_422(
    booking: Booking,
) -> None:
    site = await booking.site()
    client = await booking.client(site["id"])

    answer = await _patch(booking, f"/clients/{client['id']}", {"email": None})

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == ["email"]
    assert (await booking.get(f"/clients/{client['id']}")).json()["email"] == client["email"]


async def test_correcting_a_client_of_another_site_is_refused(booking: Booking) -> None:
    site = await booking.site()
    client = await booking.client(site["id"])

    answer = await _patch(booking, f"/clients/{client['id']}", {"name": "X"}, key=ELSEWHERE_KEY)

    assert answer.status_code == 403


async def test_a_deactivated_counselor_is_announced_and_can_no_longer_be_booked(
    booking: Booking,
) -> None:
    site = await booking.site()
    counselor = await booking.counselor(site["id"])
    client = await booking.client(site["id"])

    first = await booking.post(f"/staff/{counselor['id']}/deactivate")
    again = await booking.post(f"/staff/{counselor['id']}/deactivate")

    assert first.status_code == 200, first.text
    assert first.json()["active"] is False
    assert again.json()["deactivated_at"] == first.json()["deactivated_at"]
    events = await site_events(booking.nats_url, site["id"], 4)
    deactivated = [e for s, e, _ in events if s.endswith(".StaffDeactivated")]
    assert [e["data"] for e in deactivated] == [
        {"staff_id": counselor["id"], "site_id": site["id"]}
    ]
    refused = await booking.post(
        "/appointments",
        {
            "counselor_id": counselor["id"],
            "client_id": client["id"],
            "start": booking.at(hours=30).isoformat(),
            "modality": "online",
        },
    )
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["counselor_id"]


async def test_deactivating_an_unknown_staff_member_is_a_404(booking: Booking) -> None:
    answer = await booking.post(f"/staff/{uuid.uuid4()}/deactivate")

    assert answer.status_code == 404
