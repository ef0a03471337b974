"""A recurring group through the whole suite: a client seated in its six occurrences gets ONE
confirmation (not six), leaving it ONE notice; a client seated in one occurrence alone keeps
that seat's own confirmation; followup still plans each seat's reminders, and no consumer
dead-letters the new events."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from counseling_shared.db import connect
from tests.e2e.center import Center, created, emails_to, listed, notifications, unique_email
from tests.e2e.harness import Suite, eventually
from tests.e2e.test_series_notices import all_sent

pytestmark = pytest.mark.e2e


async def test_a_six_week_group_seat_is_one_confirmation_and_leaving_it_one_notice(
    suite: Suite,
) -> None:
    center = await Center.open(suite, timezone="Europe/Paris", locale="en")
    address = unique_email("group-series")
    member = await center.register_client(email=address, preferred_channel="email")
    once = await center.register_client(email=unique_email("group-once"))
    first = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)

    async with suite.client("booking") as booking:
        series = created(
            await booking.post(
                "/group-session-series",
                json={
                    "counselor_id": center.counselor_id,
                    "room_id": center.room_id,
                    "start": first.isoformat(),
                    "duration_minutes": 90,
                    "modality": "in_person",
                    "capacity": 4,
                    "rrule": "FREQ=WEEKLY;COUNT=6",
                },
            )
        )
        seated = await booking.post(
            f"/group-session-series/{series['id']}/seats", json={"client_id": member["id"]}
        )
        assert seated.status_code == 200, seated.text
        alone = created(
            await booking.post(
                f"/group-sessions/{series['occurrences'][2]['id']}/seats",
                json={"client_id": once["id"]},
            )
        )
        left = await booking.post(
            f"/group-session-series/{series['id']}/seats/{member['id']}/cancel",
            json={"reason": "moving away", "cancelled_by": "client"},
        )
        assert left.status_code == 200, left.text
    seats = [s for o in seated.json()["occurrences"] for s in o["seats"]]
    assert len(seats) == 6
    assert all(
        not o["seats"] or o["seats"][0]["client_id"] == once["id"]
        for o in left.json()["occurrences"]
    )

    rows = await all_sent(suite, member["id"], 2)
    assert sorted(r["template"] for r in rows) == [
        "group_series_seat_cancelled",
        "group_series_seat_taken",
    ]
    emails = emails_to(suite.sinks, address)
    assert len(emails) == 2
    [confirmation] = [e for e in emails if "place in the group" in str(e.message["Subject"])]
    assert confirmation.body.count("\n- ") == 6
    assert await notifications(suite, member["id"], "appointment_booked") == []
    assert await notifications(suite, member["id"], "appointment_cancelled") == []
    # A seat taken alone is confirmed on its own.
    [single] = await all_sent(suite, once["id"], 1)
    assert single["template"] == "appointment_booked"

    async def reminders() -> list[dict[str, Any]]:
        async with suite.client("followup") as followup:
            found = listed(await followup.get("/followups", params={"client_id": once["id"]}))
        return [r for r in found if r["kind"] == "reminder" and r["session_id"] == alone["id"]]

    # followup sees the seats' events as it always did (the new field is ignored there).
    assert await eventually(reminders, timeout=20)
    # No consumer of any service dead-lettered one of this site's events.
    for service in ("booking", "followup", "notify", "crisis"):
        conn = await connect(suite.database_url(service))
        try:
            dead = await conn.fetch(
                "SELECT consumer, subject FROM dead_letters WHERE subject LIKE $1",
                f"booking.{center.site_id}.%",
            )
        finally:
            await conn.close()
        assert [tuple(r) for r in dead] == [], service
