"""A group session through the whole suite: each seated client is an appointment of their
own, so notify confirms each seat to its client and a seat's completion makes followup plan
that client's check-ins."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.center import Center, created, emails_to, listed, notifications, unique_email
from tests.e2e.harness import Suite, eventually

pytestmark = pytest.mark.e2e


async def test_a_seats_confirmation_and_completion_reach_notify_and_followup(
    suite: Suite,
) -> None:
    center = await Center.open(suite, timezone="Europe/Paris", locale="en")
    await center.set_followup_policy(first_checkin_after="PT1H", short_term_every="P7D")
    address = unique_email("group")
    seated = await center.register_client(email=address, preferred_channel="email")
    other = await center.register_client()
    start = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)

    async with suite.client("booking") as booking:
        group = created(
            await booking.post(
                "/group-sessions",
                json={
                    "counselor_id": center.counselor_id,
                    "room_id": center.room_id,
                    "start": start.isoformat(),
                    "duration_minutes": 60,
                    "modality": "in_person",
                    "capacity": 4,
                },
            )
        )
        seats = [
            created(
                await booking.post(
                    f"/group-sessions/{group['id']}/seats", json={"client_id": c["id"]}
                )
            )
            for c in (seated, other)
        ]
        await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.1)
        completed = await booking.post(
            f"/appointments/{seats[0]['id']}/complete",
            json={"goal_horizon": "short_term", "goals": ["cope with grief"]},
        )
        assert completed.status_code == 200, completed.text

    async def confirmed() -> list[dict[str, Any]]:
        rows = await notifications(suite, seated["id"], "appointment_booked")
        return rows if rows and rows[0]["status"] == "sent" else []

    await eventually(confirmed, timeout=30)
    assert len(emails_to(suite.sinks, address)) >= 1

    async def checkins() -> list[dict[str, Any]]:
        async with suite.client("followup") as followup:
            rows = listed(await followup.get("/followups", params={"client_id": seated["id"]}))
        return [r for r in rows if r["kind"] == "checkin"]

    planned = await eventually(checkins, timeout=30)
    assert planned[0]["session_id"] == seats[0]["id"]

    # The other seat was not completed: no check-in is planned for that client.
    async with suite.client("followup") as followup:
        rows = listed(await followup.get("/followups", params={"client_id": other["id"]}))
    assert [r for r in rows if r["kind"] == "checkin"] == []
