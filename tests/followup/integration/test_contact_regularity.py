"""Contact regularity on real PostgreSQL and NATS, time moved by a ControllableClock (no sleeps
beyond polling): the gap timer plans one `regularity` outreach and tells the counselor, a new
session re-arms it; a declined follow-up defers the next check-in past the cool-off, where it is
sent once; a risk flag in a cool-off is raised at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from nats.js import JetStreamContext

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import FollowUpKind, RiskLevel
from counseling_shared.events import (
    ContactGapDetected,
    FollowUpCancelled,
    FollowUpDue,
    FollowUpScheduled,
    IntegrationEvent,
    NegativeContactRecorded,
    RiskFlagged,
)
from tests.followup.integration.support import (
    RunningFollowup,
    complete_session,
    eventually,
    followup_events,
    register_client,
    register_site,
)

pytestmark = pytest.mark.integration

# Yesterday morning in Paris, so the civil-hour rule never moves an outreach to the next day.
START = (datetime.now(UTC) - timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
CLOCK = ControllableClock(START)


@pytest.fixture(scope="module")
async def service(
    database_url: str, nats_url: str, js: JetStreamContext
) -> AsyncIterator[RunningFollowup]:
    running = await RunningFollowup(database_url, nats_url, CLOCK).start()
    yield running
    await running.stop()


async def _site_with_policy(
    js: JetStreamContext, api: httpx.AsyncClient, **policy: str
) -> tuple[UUID, UUID]:
    site_id, client_id = uuid4(), uuid4()
    await register_site(js, site_id)

    async def put() -> bool:
        answer = await api.put(f"/sites/{site_id}/followup-policy", json=policy)
        assert answer.status_code in (200, 422), answer.text
        return answer.status_code == 200

    await eventually(put)
    await register_client(js, client_id, site_id)
    return site_id, client_id


async def _session(js: JetStreamContext, site_id: UUID, client_id: UUID, counselor: UUID) -> None:
    await complete_session(js, site_id, client_id, counselor_id=counselor, completed_at=CLOCK.now())


async def _of(js: JetStreamContext, site_id: UUID, kind: type[IntegrationEvent]) -> list[Any]:
    return [e for _, e in await followup_events(js, site_id, kind.event_type)]


async def _row(db: asyncpg.Pool[Any], client_id: UUID) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM contact_regularity WHERE id = $1", client_id)


async def test_a_client_without_contact_gets_one_regularity_outreach_and_the_counselor_one_notice(
    js: JetStreamContext, api: httpx.AsyncClient, db: asyncpg.Pool[Any]
) -> None:
    site_id, client_id = await _site_with_policy(
        js, api, max_contact_gap="PT6S", negative_contact_cooloff="PT8S"
    )
    counselor = uuid4()
    await _session(js, site_id, client_id, counselor)
    row = await eventually(lambda: _row(db, client_id))
    assert row is not None
    assert row["due_at"] == CLOCK.now() + timedelta(seconds=6)

    CLOCK.advance(timedelta(seconds=7))
    gaps = await eventually(lambda: _of(js, site_id, ContactGapDetected))
    dues = await eventually(lambda: _of(js, site_id, FollowUpDue))
    assert [(g.client_id, g.counselor_id) for g in gaps] == [(client_id, counselor)]
    assert gaps[0].last_positive_contact_at == START
    assert [d.kind for d in dues] == [FollowUpKind.REGULARITY]

    listed = (await api.get(f"/sites/{site_id}/contact-gaps")).json()
    assert [(c["client_id"], c["past_gap"], c["in_cooloff"]) for c in listed] == [
        (str(client_id), True, False)
    ]

    # A new completed session re-arms the timer from that session and ends the gap.
    await _session(js, site_id, client_id, counselor)

    async def re_armed() -> bool:
        row = await _row(db, client_id)
        return row is not None and row["gap_found_at"] is None

    await eventually(re_armed)
    row = await _row(db, client_id)
    assert row is not None
    assert row["due_at"] == CLOCK.now() + timedelta(seconds=6)
    assert (await api.get(f"/sites/{site_id}/contact-gaps")).json() == []
    # Still exactly one outreach and one notice.
    assert len(await _of(js, site_id, ContactGapDetected)) == 1
    scheduled = await _of(js, site_id, FollowUpScheduled)
    assert [s.kind for s in scheduled].count(FollowUpKind.REGULARITY) == 1


async def test_a_declined_follow_up_defers_the_next_check_in_past_the_cooloff_and_it_is_sent_once(
    js: JetStreamContext, api: httpx.AsyncClient, db: asyncpg.Pool[Any]
) -> None:
    site_id, client_id = await _site_with_policy(
        js,
        api,
        first_checkin_after="PT2S",
        short_term_every="PT4S",
        max_contact_gap="P10D",
        negative_contact_cooloff="PT8S",
    )
    session_at = CLOCK.now()
    await _session(js, site_id, client_id, uuid4())
    await eventually(lambda: _of(js, site_id, FollowUpScheduled))

    CLOCK.advance(timedelta(seconds=3))  # check-in 1 falls due, check-in 2 planned at +6 s
    first_due = (await eventually(lambda: _of(js, site_id, FollowUpDue)))[0]
    answer = await api.post(
        f"/followups/{first_due.followup_id}/complete", json={"outcome": "declined"}
    )
    assert answer.status_code == 200, answer.text
    negative = await eventually(lambda: _of(js, site_id, NegativeContactRecorded))
    cooloff_until = session_at + timedelta(seconds=3 + 8)
    assert [(n.client_id, n.cooloff_until) for n in negative] == [(client_id, cooloff_until)]

    CLOCK.advance(timedelta(seconds=4))  # check-in 2's due time: inside the cool-off

    async def deferred() -> list[FollowUpCancelled]:
        return [c for c in await _of(js, site_id, FollowUpCancelled) if c.kind == "checkin"]

    withdrawn = (await eventually(deferred))[0]
    assert withdrawn.due_at == session_at + timedelta(seconds=6)
    replanned = [s for s in await _of(js, site_id, FollowUpScheduled) if s.due_at == cooloff_until]
    assert len(replanned) == 1
    listed = (await api.get(f"/sites/{site_id}/contact-gaps")).json()
    assert [(c["client_id"], c["in_cooloff"]) for c in listed] == [(str(client_id), True)]
    assert [d.followup_id for d in await _of(js, site_id, FollowUpDue)] == [first_due.followup_id]

    CLOCK.advance(timedelta(seconds=5))  # past the cool-off's end

    async def two_dues() -> list[FollowUpDue]:
        found = await _of(js, site_id, FollowUpDue)
        return found if len(found) >= 2 else []

    dues = await eventually(two_dues)
    assert [d.followup_id for d in dues] == [first_due.followup_id, replanned[0].followup_id]
    assert withdrawn.followup_id not in {d.followup_id for d in dues}


async def test_a_risk_reported_during_a_cooloff_is_flagged_at_once(
    js: JetStreamContext, api: httpx.AsyncClient
) -> None:
    site_id, client_id = await _site_with_policy(
        js, api, first_checkin_after="PT1S", short_term_every="P7D", negative_contact_cooloff="P14D"
    )
    await _session(js, site_id, client_id, uuid4())
    await eventually(lambda: _of(js, site_id, FollowUpScheduled))
    CLOCK.advance(timedelta(seconds=2))
    first = (await eventually(lambda: _of(js, site_id, FollowUpDue)))[0]
    declined = await api.post(
        f"/followups/{first.followup_id}/complete", json={"outcome": "declined"}
    )
    assert declined.status_code == 200
    await eventually(lambda: _of(js, site_id, NegativeContactRecorded))

    # In the cool-off now; the next check-in, completed early, reports a high risk:
    # RiskFlagged goes out at once (nothing on a crisis path waits for the cool-off).
    second = await _open_followup(api, client_id)
    flagged = await api.post(
        f"/followups/{second}/complete", json={"outcome": "declined", "risk_level": "high"}
    )
    assert flagged.status_code == 200, flagged.text
    risks = await eventually(lambda: _of(js, site_id, RiskFlagged))
    assert [(r.client_id, r.level) for r in risks] == [(client_id, RiskLevel.HIGH)]


async def _open_followup(api: httpx.AsyncClient, client_id: UUID) -> str:
    listed = (await api.get("/followups", params={"client_id": str(client_id)})).json()
    open_ = [f["id"] for f in listed if f["status"] in ("scheduled", "due")]
    assert open_, listed
    return str(open_[0])


async def test_the_contact_gaps_come_a_page_at_a_time_longest_adrift_first(
    api: httpx.AsyncClient, db: asyncpg.Pool[Any]
) -> None:
    """Never in touch first, then by the last positive contact; every client once."""
    site_id = uuid4()
    never = sorted([uuid4(), uuid4(), uuid4()])
    touched = [(uuid4(), START - timedelta(days=d)) for d in (30, 20, 10, 5)]
    rows = [(c, None) for c in never] + touched
    await db.executemany(
        """INSERT INTO contact_regularity (id, site_id, last_positive_at, gap_found_at, version)
           VALUES ($1, $2, $3, $4, 1)""",
        [(client, site_id, last, START) for client, last in rows],
    )

    served: list[str] = []
    sizes: list[int] = []
    path = f"/sites/{site_id}/contact-gaps?limit=2"
    while True:
        answer = await api.get(path)
        assert answer.status_code == 200, answer.text
        served += [c["client_id"] for c in answer.json()]
        sizes.append(len(answer.json()))
        if "Next-Cursor" not in answer.headers:
            break
        path = f"/sites/{site_id}/contact-gaps?limit=2&cursor={answer.headers['Next-Cursor']}"

    assert served == [str(c) for c, _ in rows]
    assert sizes == [2, 2, 2, 1]
    too_many = await api.get(f"/sites/{site_id}/contact-gaps?limit=201")
    assert too_many.status_code == 422
