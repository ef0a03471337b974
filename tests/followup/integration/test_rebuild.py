"""Rebuilding followup's projections from its event store gives back exactly the live rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from nats.js import JetStreamContext

from counseling_shared.codes import (
    CancelledBy,
    Channel,
    ClosureReason,
    Modality,
)
from counseling_shared.db import connect
from counseling_shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
    CareEpisodeClosed,
    ClientRegistered,
    SessionMissed,
    SiteRegistered,
)
from followup.application.rebuild import rebuild_projections
from tests.followup.integration.support import complete_session, eventually, publish_as_booking
from tests.opsctl.integration.support import counselctl
from tests.projections import rows_updated_by, snapshot

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Story:
    site_id: UUID
    in_care: UUID  # a session, a check-in that fell due and was completed, lighter intensity
    closed: UUID  # a no-show, then the episode closed: outreach withdrawn, post-closure planned
    paused: UUID  # paused before booking told followup about them; three sessions booked,
    # one moved and one cancelled (recorded, no reminder planned while paused)


async def followups(api: httpx.AsyncClient, client_id: UUID) -> list[dict[str, Any]]:
    answer = await api.get("/followups", params={"client_id": str(client_id)})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


def statuses(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((f["kind"], f["status"]) for f in found)


@pytest.fixture(scope="module")
async def story(api: httpx.AsyncClient, js: JetStreamContext, db: asyncpg.Pool[Any]) -> Story:
    story = Story(uuid4(), uuid4(), uuid4(), uuid4())
    site = SiteRegistered(
        site_id=story.site_id, name="Riverside", timezone="Europe/Paris", locale="fr"
    )
    await publish_as_booking(js, site, story.site_id)
    policy = {
        "first_checkin_after": "PT1S",
        "short_term_every": "P7D",
        "no_show_outreach_after": "P1D",
        "post_closure_checkins": ["P14D", "P1M"],
    }
    answer = await api.put(f"/sites/{story.site_id}/followup-policy", json=policy)
    assert answer.status_code == 200, answer.text
    for client_id in (story.in_care, story.closed, story.paused):
        registered = ClientRegistered(
            client_id=client_id,
            site_id=story.site_id,
            locale="fr",
            timezone="Europe/Paris",
            preferred_channel=Channel.EMAIL,
        )
        await publish_as_booking(js, registered, client_id)
    paused = await api.put(
        f"/clients/{story.paused}/followup-preferences", json={"intensity": "paused"}
    )
    assert paused.status_code == 200, paused.text

    # Its first check-in (PT1S) is due at once, and even on the doubled (light) interval
    # none of its series is due again during the test.
    await complete_session(
        js, story.site_id, story.in_care, completed_at=datetime.now(UTC) - timedelta(seconds=3)
    )

    async def fell_due() -> list[dict[str, Any]]:
        found = await followups(api, story.in_care)
        return [f for f in found if f["status"] == "due"]

    [due] = await eventually(fell_due)
    body = {
        "outcome": "reached",
        "progress": {"achieved": "slept better", "challenges": "work", "next_steps": "walks"},
        "satisfaction": 4,
    }
    answer = await api.post(f"/followups/{due['id']}/complete", json=body)
    assert answer.status_code == 200, answer.text
    answer = await api.put(
        f"/clients/{story.in_care}/followup-preferences",
        json={"intensity": "light", "channel": "sms"},
    )
    assert answer.status_code == 200, answer.text

    missed = SessionMissed(
        appointment_id=uuid4(),
        site_id=story.site_id,
        client_id=story.closed,
        counselor_id=uuid4(),
        start=datetime.now(UTC),
    )
    await publish_as_booking(js, missed, missed.appointment_id)
    await eventually(lambda: followups(api, story.closed))
    closure = CareEpisodeClosed(
        client_id=story.closed,
        site_id=story.site_id,
        reason=ClosureReason.MOVED,
        effective_on=date.today() + timedelta(days=1),
        referred=False,
    )
    await publish_as_booking(js, closure, story.closed)
    start = datetime.now(UTC) + timedelta(days=10)
    for n in range(3):
        fields: dict[str, Any] = {
            "appointment_id": uuid4(),
            "site_id": story.site_id,
            "client_id": story.paused,
            "counselor_id": uuid4(),
            "room_id": None,
            "start": start + timedelta(days=n),
            "end": start + timedelta(days=n, hours=1),
            "modality": Modality.ONLINE,
        }
        await publish_as_booking(js, AppointmentBooked(**fields), fields["appointment_id"])
        if n == 1:
            moved = AppointmentRescheduled(**fields | {"start": start + timedelta(days=5)})
            await publish_as_booking(js, moved, fields["appointment_id"])
        if n == 2:
            cancelled = AppointmentCancelled(**fields, cancelled_by=CancelledBy.CLIENT, late=False)
            await publish_as_booking(js, cancelled, fields["appointment_id"])

    async def settled() -> bool:
        in_care = statuses(await followups(api, story.in_care))
        closed = statuses(await followups(api, story.closed))
        registered = await db.fetchval(
            "SELECT site_id FROM clients WHERE client_id = $1", story.paused
        )
        booked = await db.fetch(
            "SELECT status, version FROM appointments WHERE client_id = $1", story.paused
        )
        return (
            sorted((r["status"], r["version"]) for r in booked)
            == [("booked", 1), ("booked", 2), ("cancelled", 2)]
            and in_care
            == [("checkin", "cancelled"), ("checkin", "completed"), ("checkin", "scheduled")]
            and closed
            == [
                ("no_show_outreach", "cancelled"),
                ("post_closure", "scheduled"),
                ("post_closure", "scheduled"),
            ]
            and registered == story.site_id
        )

    await eventually(settled)
    return story


async def test_a_rebuilt_followup_projection_equals_the_live_one(
    story: Story, database_url: str
) -> None:
    live = await snapshot(database_url)
    assert len(live["followup_preferences"]) == 3
    assert len(live["appointments"]) == 3
    # Each follow-up keeps the trace that planned it: the comparison below checks it survives.
    assert all(r["trace_headers"] for r in live["followups"])
    # Every state a follow-up can rest in (the one that fell due was completed since).
    assert {r["status"] for r in live["followups"]} == {"scheduled", "completed", "cancelled"}
    calls: list[tuple[int, int]] = []

    conn = await connect(database_url)
    try:
        counts = await rebuild_projections(conn, progress=lambda *call: calls.append(call))
    finally:
        await conn.close()

    assert await snapshot(database_url) == live
    assert counts == {
        "site": 1,
        "policy": 1,
        "client": 3,
        "followup": len(live["followups"]),
        # One client had a completed session: their contact-regularity row is rebuilt too.
        "regularity": len(live["contact_regularity"]),
        "staff": len(live["deactivated_staff"]),
        "appointment": 3,
    }
    assert calls[-1] == (sum(counts.values()), sum(counts.values()))


async def test_a_rebuild_writes_each_followup_row_once_with_its_kept_columns(
    story: Story, database_url: str
) -> None:
    """The columns no event holds go in with each row's insert: no row is updated afterwards
    (a second version of every row in the rebuild's transaction)."""
    live = await snapshot(database_url)

    updated = await rows_updated_by(database_url, rebuild_projections, "followups")

    assert updated == 0
    assert await snapshot(database_url) == live


async def test_counselctl_rebuild_repairs_a_damaged_followup_projection(
    story: Story, database_url: str, db: asyncpg.Pool[Any]
) -> None:
    live = await snapshot(database_url)
    async with db.acquire() as conn:  # a projection gone wrong behind the event store's back
        lost_timers = {
            r["id"]
            for r in await conn.fetch(
                "DELETE FROM followups WHERE client_id = $1 AND status = 'scheduled' RETURNING id",
                story.closed,
            )
        }
        assert lost_timers
        await conn.execute(
            "UPDATE clients SET timezone = 'Asia/Seoul' WHERE client_id = $1", story.in_care
        )
        await conn.execute("DELETE FROM followup_preferences WHERE client_id = $1", story.paused)
        await conn.execute("UPDATE sites SET updated_at = now() - interval '1 day'")
        await conn.execute("UPDATE followup_policies SET short_term_every = 'P1D'")
    assert await snapshot(database_url) != live

    answer = await counselctl(
        "rebuild", "--service", "followup", "--database-url", database_url, "--json"
    )

    assert answer.json()["rebuilt"]["followup"] == len(live["followups"])
    # A deleted row's trace is in no event: it comes back without one, the others keep theirs.
    for row in live["followups"]:
        if row["id"] in lost_timers:
            row["trace_headers"] = None
    assert await snapshot(database_url) == live
    assert "rebuilding followup" in answer.stderr
