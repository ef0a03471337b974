"""Booking's events in, follow-up rows and events out: real PostgreSQL, real JetStream."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from nats.js import JetStreamContext

from counseling_shared.codes import Channel, ClosureReason, GoalHorizon, Modality
from counseling_shared.events import (
    AppointmentBooked,
    CareEpisodeClosed,
    ClientRegistered,
    FollowUpCancelled,
    FollowUpCompleted,
    FollowUpDue,
    FollowUpScheduled,
    RiskFlagged,
    SessionMissed,
)
from followup.application.erasure import erase_client
from tests.followup.integration.support import (
    complete_session,
    eventually,
    followup_events,
    publish_as_booking,
    register_site,
)

pytestmark = pytest.mark.integration
NEW_YORK = ZoneInfo("America/New_York")


class Client:
    """A client at a fresh site, known to booking, as booking's events tell followup."""

    def __init__(self, js: JetStreamContext, api: httpx.AsyncClient) -> None:
        self.js = js
        self.api = api
        self.site_id = uuid4()
        self.client_id = uuid4()

    async def set_policy(self, **durations: Any) -> None:
        await register_site(self.js, self.site_id)
        answer = await self.api.put(f"/sites/{self.site_id}/followup-policy", json=durations)
        assert answer.status_code == 200, answer.text

    async def register(self, timezone: str = "Europe/Paris") -> None:
        event = ClientRegistered(
            client_id=self.client_id,
            site_id=self.site_id,
            locale="fr",
            timezone=timezone,
            preferred_channel=Channel.EMAIL,
        )
        await publish_as_booking(self.js, event, self.client_id)

    async def complete_session(
        self, at: datetime | None = None, horizon: GoalHorizon = GoalHorizon.SHORT_TERM
    ) -> UUID:
        appointment_id = uuid4()
        await complete_session(
            self.js,
            self.site_id,
            self.client_id,
            appointment_id=appointment_id,
            completed_at=at,
            goal_horizon=horizon,
        )
        return appointment_id

    async def followups(self, status: str | None = None) -> list[dict[str, Any]]:
        params = {"client_id": str(self.client_id)} | ({"status": status} if status else {})
        answer = await self.api.get("/followups", params=params)
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()
        return found

    async def events(self, event_type: str = "*") -> list[Any]:
        return [event for _, event in await followup_events(self.js, self.site_id, event_type)]


@pytest.fixture
def client(js: JetStreamContext, api: httpx.AsyncClient) -> Client:
    return Client(js, api)


async def test_a_completed_session_plans_a_check_in_row_and_publishes_it(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    await client.register(timezone="America/New_York")
    completed_at = datetime.now(UTC).replace(microsecond=0)
    appointment_id = await client.complete_session(completed_at)

    [checkin] = await eventually(client.followups)
    assert (checkin["kind"], checkin["status"]) == ("checkin", "scheduled")
    # P7D later at the same wall-clock time in the client's zone (DST rules: unit tests).
    due_local = datetime.fromisoformat(checkin["due_at"]).astimezone(NEW_YORK)
    assert due_local.replace(tzinfo=None) == (
        completed_at.astimezone(NEW_YORK).replace(tzinfo=None) + timedelta(days=7)
    )
    row = await db.fetchrow("SELECT * FROM followups WHERE id = $1", UUID(checkin["id"]))
    assert row is not None
    assert (row["session_id"], row["goal_horizon"]) == (appointment_id, "short_term")
    stored = await db.fetchval(
        "SELECT count(*) FROM events WHERE stream_id = $1", f"followup-{checkin['id']}"
    )
    assert stored == 1

    [scheduled] = await eventually(lambda: client.events("FollowUpScheduled"))
    assert isinstance(scheduled, FollowUpScheduled)
    assert (scheduled.followup_id, scheduled.client_id) == (UUID(checkin["id"]), client.client_id)


async def test_a_no_show_plans_an_outreach_that_falls_due(client: Client) -> None:
    await client.set_policy(no_show_outreach_after="PT1S")
    await client.register()
    appointment_id = uuid4()
    missed = SessionMissed(
        appointment_id=appointment_id,
        site_id=client.site_id,
        client_id=client.client_id,
        counselor_id=uuid4(),
        start=datetime.now(UTC),
    )
    await publish_as_booking(client.js, missed, appointment_id)

    [outreach] = await eventually(client.followups)
    assert outreach["kind"] == "no_show_outreach"
    [due] = await eventually(lambda: client.events("FollowUpDue"))
    assert isinstance(due, FollowUpDue)
    assert (due.followup_id, due.kind) == (UUID(outreach["id"]), "no_show_outreach")


async def test_closing_the_episode_cancels_check_ins_and_plans_post_closure_ones(
    client: Client,
) -> None:
    await client.register()
    await client.complete_session()
    [checkin] = await eventually(client.followups)
    closed = CareEpisodeClosed(
        client_id=client.client_id,
        site_id=client.site_id,
        reason=ClosureReason.GOALS_MET,
        effective_on=date.today() + timedelta(days=1),
        referred=False,
    )
    await publish_as_booking(client.js, closed, client.client_id)

    async def post_closure_planned() -> list[dict[str, Any]]:
        scheduled = await client.followups("scheduled")
        return scheduled if all(f["kind"] == "post_closure" for f in scheduled) else []

    post = await eventually(post_closure_planned)
    assert [f["kind"] for f in post] == ["post_closure"] * 3
    [cancelled] = await client.followups("cancelled")
    assert cancelled["id"] == checkin["id"]
    events = await eventually(lambda: client.events("FollowUpCancelled"))
    assert [type(e) for e in events] == [FollowUpCancelled]

    async def four_scheduled() -> list[Any]:
        found = await client.events("FollowUpScheduled")
        return found if len(found) >= 4 else []

    scheduled = await eventually(four_scheduled)
    assert [e.kind for e in scheduled] == ["checkin"] + ["post_closure"] * 3


async def test_a_session_after_the_closure_withdraws_the_post_closure_check_ins_as_reengaged(
    client: Client,
) -> None:
    await client.register()
    await client.complete_session()
    await eventually(client.followups)
    closed = CareEpisodeClosed(
        client_id=client.client_id,
        site_id=client.site_id,
        reason=ClosureReason.CLIENT_WITHDREW,
        effective_on=date.today(),
        referred=False,
    )
    await publish_as_booking(client.js, closed, client.client_id)

    async def post_closure_planned() -> list[dict[str, Any]]:
        scheduled = await client.followups("scheduled")
        return scheduled if len(scheduled) == 3 else []

    post_closure = await eventually(post_closure_planned)
    # The client books again and comes: the series starts over, the post-closure ones go.
    await client.complete_session(datetime.now(UTC) + timedelta(seconds=1))

    async def regular_series() -> list[dict[str, Any]]:
        scheduled = await client.followups("scheduled")
        return scheduled if [f["kind"] for f in scheduled] == ["checkin"] else []

    await eventually(regular_series)
    withdrawn = {f["id"]: f["cancel_reason"] for f in await client.followups("cancelled")}
    assert {withdrawn[f["id"]] for f in post_closure} == {"reengaged"}


async def test_a_paused_client_gets_no_follow_up_due_until_resumed(
    client: Client, api: httpx.AsyncClient, db: asyncpg.Pool[Any]
) -> None:
    await client.set_policy(first_checkin_after="PT1S", short_term_every="PT2S")
    await client.register()
    answer = await api.put(
        f"/clients/{client.client_id}/followup-preferences", json={"intensity": "paused"}
    )
    assert answer.status_code == 200, answer.text
    appointment_id = await client.complete_session()

    async def anchored() -> bool:
        found = await db.fetchval(
            "SELECT session_id FROM clients WHERE client_id = $1", client.client_id
        )
        return bool(found == appointment_id)

    await eventually(anchored)  # the session was handled ...
    await _sleep(2.5)  # ... and its first check-in would have fallen due by now
    assert await client.followups() == []
    assert await client.events() == []

    resumed_at = datetime.now(UTC)
    answer = await api.put(
        f"/clients/{client.client_id}/followup-preferences",
        json={"intensity": "standard", "channel": "sms"},
    )
    assert answer.json()["intensity"] == "standard"
    # The series goes on from its next due time still ahead (the passed ones are skipped).
    due = await eventually(lambda: client.events("FollowUpDue"))
    assert isinstance(due[0], FollowUpDue)
    assert due[0].channel == Channel.SMS
    assert due[0].due_at > resumed_at
    answer = await api.put(
        f"/clients/{client.client_id}/followup-preferences", json={"intensity": "paused"}
    )
    assert answer.status_code == 200


async def test_an_outcome_with_risk_raises_risk_flagged_and_keeps_the_words_at_home(
    client: Client, api: httpx.AsyncClient, js: JetStreamContext, db: asyncpg.Pool[Any]
) -> None:
    await client.register()
    await client.complete_session()
    [checkin] = await eventually(client.followups)
    body = {
        "outcome": "reached",
        "progress": {"achieved": "walked daily", "challenges": "sleep", "next_steps": "diary"},
        "satisfaction": 4,
        "risk_level": "high",
    }
    answer = await api.post(f"/followups/{checkin['id']}/complete", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "completed"

    [flag] = await eventually(lambda: client.events("RiskFlagged"))
    assert isinstance(flag, RiskFlagged)
    assert (flag.level, flag.source, flag.client_id) == ("high", "followup", client.client_id)
    [completed] = await eventually(lambda: client.events("FollowUpCompleted"))
    assert isinstance(completed, FollowUpCompleted)
    assert completed.outcome == "reached"

    words = await db.fetchval(
        "SELECT progress_achieved FROM followups WHERE id = $1", UUID(checkin["id"])
    )
    assert words == "walked daily"
    raw = [envelope.model_dump_json() for envelope, _ in await followup_events(js, client.site_id)]
    assert raw
    assert not any("walked daily" in r or "diary" in r for r in raw)

    again = await api.post(f"/followups/{checkin['id']}/complete", json={"outcome": "reached"})
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["followup_id"] == checkin["id"]


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


async def test_follow_ups_come_in_pages_by_due_time(client: Client) -> None:
    await client.register()
    await publish_as_booking(
        client.js,
        CareEpisodeClosed(
            client_id=client.client_id,
            site_id=client.site_id,
            reason=ClosureReason.GOALS_MET,
            effective_on=date.today() + timedelta(days=1),
            referred=False,
        ),
        client.client_id,
    )

    async def three_planned() -> list[dict[str, Any]]:
        found = await client.followups()
        return found if len(found) == 3 else []

    everything = await eventually(three_planned)
    params = {"client_id": str(client.client_id), "limit": "2"}
    first = await client.api.get("/followups", params=params)
    cursor = first.headers["next-cursor"]
    second = await client.api.get("/followups", params={**params, "cursor": cursor})

    assert [f["id"] for f in first.json() + second.json()] == [f["id"] for f in everything]
    assert "next-cursor" not in second.headers
    assert [f["due_at"] for f in everything] == sorted(f["due_at"] for f in everything)


async def test_an_erased_client_leaves_nothing_in_followup(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    await client.register()
    await client.complete_session()
    start = datetime.now(UTC) + timedelta(days=5)
    booked = AppointmentBooked(
        appointment_id=uuid4(),
        site_id=client.site_id,
        client_id=client.client_id,
        counselor_id=uuid4(),
        room_id=None,
        start=start,
        end=start + timedelta(hours=1),
        modality=Modality.ONLINE,
    )
    await publish_as_booking(client.js, booked, booked.appointment_id)

    async def with_reminders() -> list[dict[str, Any]]:
        found = await client.followups()
        return found if len(found) == 3 else []

    planned = await eventually(with_reminders)

    async with db.acquire() as conn:
        changed = await erase_client(conn, client.client_id)
        left = await conn.fetchval(
            """SELECT (SELECT count(*) FROM followups WHERE client_id = $1)
                    + (SELECT count(*) FROM clients WHERE client_id = $1)
                    + (SELECT count(*) FROM appointments WHERE client_id = $1)
                    + (SELECT count(*) FROM contact_regularity WHERE id = $1)
                    + (SELECT count(*) FROM events WHERE stream_id = ANY($2::text[]))""",
            client.client_id,
            [
                f"client-{client.client_id}",
                f"regularity-{client.client_id}",
                f"appointment-{booked.appointment_id}",
            ]
            + [f"followup-{f['id']}" for f in planned],
        )

    assert (changed["clients"], changed["followups"], changed["appointments"]) == (1, 3, 1)
    # The completed session armed the client's gap timer: left, it would still fire.
    assert changed["contact_regularity"] == 1
    assert left == 0
    assert await client.followups() == []
