"""FollowUpDue from the durable scheduler: on time, once per follow-up, across a restart and
with two replicas sharing one database."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
from nats.js import JetStreamContext

from counseling_shared.codes import Channel
from counseling_shared.db import create_pool
from counseling_shared.events import ClientRegistered, FollowUpDue
from tests.followup.integration.support import (
    ADMIN,
    RunningFollowup,
    complete_session,
    eventually,
    followup_events,
    publish_as_booking,
    register_site,
)

pytestmark = pytest.mark.integration
ON_TIME = timedelta(seconds=1)


async def test_follow_up_due_arrives_on_time_and_exactly_once_across_a_restart(
    database_url: str, nats_url: str, js: JetStreamContext
) -> None:
    site_id, client_id, appointment_id = uuid4(), uuid4(), uuid4()

    async def dues() -> list[tuple[datetime, FollowUpDue]]:
        found = await followup_events(js, site_id, "FollowUpDue")
        return [(env.time, ev) for env, ev in found if isinstance(ev, FollowUpDue)]

    async def at_least(n: int) -> list[tuple[datetime, FollowUpDue]]:
        found = await dues()
        return found if len(found) >= n else []

    first = await RunningFollowup(database_url, nats_url).start()
    async with httpx.AsyncClient(base_url=first.url, headers=ADMIN) as api:
        policy = {"first_checkin_after": "PT2S", "short_term_every": "PT3S"}
        await register_site(js, site_id)
        assert (await api.put(f"/sites/{site_id}/followup-policy", json=policy)).status_code == 200
    registered = ClientRegistered(
        client_id=client_id,
        site_id=site_id,
        locale="ko",
        timezone="Asia/Seoul",
        preferred_channel=Channel.SMS,
    )
    await publish_as_booking(js, registered, client_id)
    session = await complete_session(js, site_id, client_id, appointment_id=appointment_id)

    [(fired_at, due)] = await eventually(lambda: at_least(1), timeout=10)
    assert timedelta(0) <= fired_at - due.due_at < ON_TIME
    assert due.due_at == session.completed_at + timedelta(seconds=2)

    # Down while the next check-in falls due; it fires once on restart, never lost.
    await first.stop()
    await asyncio.sleep(3.5)
    assert len(await dues()) == 1
    replicas = [
        await RunningFollowup(database_url, nats_url).start(),
        await RunningFollowup(database_url, nats_url).start(),
    ]
    try:
        found = await eventually(lambda: at_least(3), timeout=15)
        # The third fell due while both replicas were running: on time, and only once.
        fired_at, third = found[2]
        assert timedelta(0) <= fired_at - third.due_at < ON_TIME
        async with httpx.AsyncClient(base_url=replicas[0].url, headers=ADMIN) as api:
            answer = await api.put(
                f"/clients/{client_id}/followup-preferences", json={"intensity": "paused"}
            )
            assert answer.status_code == 200
    finally:
        for replica in replicas:
            await replica.stop()

    found = await dues()
    per_followup = Counter(due.followup_id for _, due in found)
    assert len(per_followup) >= 3
    assert set(per_followup.values()) == {1}
    assert all(due.channel is None for _, due in found)
    due_at = [due.due_at for _, due in found]
    assert due_at == sorted(due_at)
    assert all(b - a >= timedelta(seconds=3) for a, b in pairwise(due_at))

    pool: asyncpg.Pool[Any] = await create_pool(database_url, max_size=2)
    try:
        fell_due = await pool.fetch(
            """SELECT stream_id, count(*) AS n FROM events WHERE type = 'FollowUpFellDue'
               AND stream_id = ANY($1::text[]) GROUP BY stream_id""",
            [f"followup-{f}" for f in per_followup],
        )
        assert sorted(r["n"] for r in fell_due) == [1] * len(per_followup)
        statuses = await pool.fetch(
            "SELECT status, count(*) AS n FROM followups WHERE client_id = $1 GROUP BY status",
            client_id,
        )
        by_status = {r["status"]: r["n"] for r in statuses}
        assert by_status.get("due") == len(per_followup)
        assert by_status.get("scheduled", 0) == 0  # pausing withdrew the one planned next
    finally:
        await pool.close()
