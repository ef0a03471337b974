"""A seat request names only its client: a refusal caused by the group session's own state
(it took place already, its counselor was deactivated) is a 409 about the session, never a
422 naming a field the caller did not send."""

from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.booking.integration.support import Booking

pytestmark = pytest.mark.integration


async def _group(booking: Booking, start_in_hours: float) -> tuple[dict[str, Any], str]:
    site = await booking.site()
    counselor = await booking.counselor(site["id"])
    group = await booking.created(
        "/group-sessions",
        {
            "counselor_id": counselor["id"],
            "start": booking.at(hours=start_in_hours).isoformat(),
            "modality": "online",
            "capacity": 3,
        },
    )
    return group, site["id"]


def _conflict_about_the_group(answer: httpx.Response, group_id: str) -> None:
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert group_id in answer.json()["detail"]
    assert "errors" not in answer.json()


async def test_a_seat_in_a_group_that_took_place_is_a_409(booking: Booking) -> None:
    group, site_id = await _group(booking, start_in_hours=1)
    client = await booking.client(site_id)
    booking.clock.advance(timedelta(hours=3))

    answer = await booking.post(f"/group-sessions/{group['id']}/seats", {"client_id": client["id"]})

    _conflict_about_the_group(answer, group["id"])


async def test_a_seat_in_a_deactivated_counselors_group_is_a_409(booking: Booking) -> None:
    group, site_id = await _group(booking, start_in_hours=30)
    client = await booking.client(site_id)
    deactivated = await booking.post(f"/staff/{group['counselor_id']}/deactivate")
    assert deactivated.status_code == 200, deactivated.text

    answer = await booking.post(f"/group-sessions/{group['id']}/seats", {"client_id": client["id"]})

    _conflict_about_the_group(answer, group["id"])


async def test_a_client_of_another_site_is_still_a_422_naming_client_id(booking: Booking) -> None:
    group, _ = await _group(booking, start_in_hours=30)
    elsewhere = await booking.client((await booking.site())["id"])

    answer = await booking.post(
        f"/group-sessions/{group['id']}/seats", {"client_id": elsewhere["id"]}
    )

    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["client_id"]
