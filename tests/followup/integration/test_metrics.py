"""/metrics shows the scheduler's backlog (scheduled, due, overdue follow-ups) and how late each
FollowUpDue left, against real PostgreSQL and NATS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import httpx
import pytest
from nats.js import JetStreamContext
from prometheus_client.parser import text_string_to_metric_families

from counseling_shared.clock import Clock, ControllableClock, SystemClock
from counseling_shared.codes import GoalHorizon, RiskLevel
from counseling_shared.events import FollowUpDue, SessionCompleted, SessionMissed
from counseling_shared.service import Runtime, ServiceDefinition, create_app
from followup.adapters.backlog import scheduler_backlog
from followup.bootstrap import definition
from followup.entrypoints.gauges import refresh_gauges
from followup.entrypoints.scheduler import scheduler_for
from followup.settings import FollowupSettings
from tests.followup.integration.support import (
    ADMIN,
    KNOWN_ID_WAIT_SECONDS,
    eventually,
    followup_events,
    publish_as_booking,
    register_site,
)

pytestmark = pytest.mark.integration
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@asynccontextmanager
async def running(
    service: ServiceDefinition, clock: Clock
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """followup's app with its lifespan (migrations, relay, consumers, background loops)."""
    app = create_app(service, clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://followup", headers=ADMIN
        ) as api:
            runtime: Runtime = app.state.runtime

            async def ready() -> bool:
                return all((await runtime.readiness()).values())

            await eventually(ready, timeout=15)
            yield api, runtime


def settings(database_url: str, nats_url: str) -> FollowupSettings:
    return FollowupSettings.model_validate(
        {
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "API_KEYS": "dev-admin-key",
            "FOLLOWUP_GAUGE_INTERVAL": 0.1,
            "KNOWN_ID_WAIT_SECONDS": KNOWN_ID_WAIT_SECONDS,
        }
    )


async def scrape(api: httpx.AsyncClient) -> Samples:
    answer = await api.get("/metrics")
    assert answer.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def backlog_shows(api: httpx.AsyncClient, scheduled: int, due: int, overdue: int) -> bool:
    samples = await scrape(api)
    shown = tuple(
        value(samples, name)
        for name in ("followup_scheduled", "followup_due_open", "followup_overdue")
    )
    return shown == (scheduled, due, overdue)


def session_completed(site_id: UUID, completed_at: datetime) -> SessionCompleted:
    return SessionCompleted(
        appointment_id=uuid4(),
        site_id=site_id,
        client_id=uuid4(),
        counselor_id=uuid4(),
        completed_at=completed_at,
        goal_horizon=GoalHorizon.SHORT_TERM,
        risk_level=RiskLevel.NONE,
    )


async def test_the_backlog_gauges_follow_planning_falling_due_late_and_completion(
    database_url: str, nats_url: str, js: JetStreamContext
) -> None:
    t0 = datetime.now(UTC).replace(microsecond=0)
    clock = ControllableClock(t0)
    service = definition(settings(database_url, nats_url))
    # No scheduler loop: this test is the scheduler, firing by hand when it chooses (late).
    service.background = [refresh_gauges]
    site_id = uuid4()
    async with running(service, clock) as (api, runtime):
        checkin = session_completed(site_id, t0)
        await publish_as_booking(js, checkin, checkin.appointment_id)
        missed = SessionMissed(
            appointment_id=uuid4(),
            site_id=site_id,
            client_id=uuid4(),
            counselor_id=uuid4(),
            start=t0,
        )
        await publish_as_booking(js, missed, missed.appointment_id)

        # The contract's defaults: a check-in in 7 days, an outreach in 24 hours. The table is
        # asked first: the gauges are process-wide, so they alone cannot prove both are planned.
        async def both_planned() -> bool:
            async with runtime.db().acquire() as conn:
                return (await scheduler_backlog(conn, t0, 5.0)).scheduled == 2

        await eventually(both_planned)
        await eventually(lambda: backlog_shows(api, scheduled=2, due=0, overdue=0))

        # "Overdue" means more than 5 s past due_at and still scheduled.
        outreach_due = t0 + timedelta(hours=24)
        async with runtime.db().acquire() as conn:
            just_due = await scheduler_backlog(conn, outreach_due + timedelta(seconds=4.9), 5.0)
            behind = await scheduler_backlog(conn, outreach_due + timedelta(seconds=5.1), 5.0)
        assert (just_due.overdue, behind.overdue) == (0, 1)

        clock.set(outreach_due + timedelta(seconds=10))
        await eventually(lambda: backlog_shows(api, scheduled=2, due=0, overdue=1))

        before = await scrape(api)
        assert await scheduler_for(runtime).fire_due() == 1
        after = await scrape(api)
        emitted = "followup_due_emitted_total"
        assert (
            value(after, emitted, kind="no_show_outreach")
            - value(before, emitted, kind="no_show_outreach")
            == 1
        )
        assert value(after, emitted, kind="checkin") == value(before, emitted, kind="checkin")
        delay = "followup_due_delay_seconds"
        assert value(after, f"{delay}_count") - value(before, f"{delay}_count") == 1
        assert value(after, f"{delay}_sum") - value(before, f"{delay}_sum") == pytest.approx(10.0)
        late = {
            le: value(after, f"{delay}_bucket", le=le) - value(before, f"{delay}_bucket", le=le)
            for le in ("5.0", "10.0")
        }
        assert late == {"5.0": 0, "10.0": 1}
        await eventually(lambda: backlog_shows(api, scheduled=1, due=1, overdue=0))

        # A day late for the check-in: it falls due and the series plans the next one ahead.
        clock.set(t0 + timedelta(days=8))
        await eventually(lambda: backlog_shows(api, scheduled=1, due=1, overdue=1))
        before = await scrape(api)
        assert await scheduler_for(runtime).fire_due() == 1
        after = await scrape(api)
        assert value(after, emitted, kind="checkin") - value(before, emitted, kind="checkin") == 1
        assert value(after, f"{delay}_sum") - value(before, f"{delay}_sum") == pytest.approx(
            timedelta(days=1).total_seconds()
        )
        await eventually(lambda: backlog_shows(api, scheduled=1, due=2, overdue=0))

        # Staff complete the outreach: it leaves the due set.
        [outreach] = (
            await api.get("/followups", params={"client_id": str(missed.client_id)})
        ).json()
        answer = await api.post(
            f"/followups/{outreach['id']}/complete", json={"outcome": "reached"}
        )
        assert answer.status_code == 200, answer.text
        await eventually(lambda: backlog_shows(api, scheduled=1, due=1, overdue=0))

        # The histogram measured what went on the bus: each FollowUpDue's time minus its due_at.
        async def both_dues() -> list[float]:
            found = await followup_events(js, site_id, "FollowUpDue")
            delays = [
                (envelope.time - event.due_at).total_seconds()
                for envelope, event in found
                if isinstance(event, FollowUpDue)
            ]
            return delays if len(delays) == 2 else []

        assert await eventually(both_dues) == [10.0, timedelta(days=1).total_seconds()]


async def test_a_follow_up_fired_on_time_is_counted_in_the_bucket_of_its_delay(
    database_url: str, nats_url: str, js: JetStreamContext
) -> None:
    site_id = uuid4()
    service = definition(settings(database_url, nats_url))
    async with running(service, SystemClock()) as (api, runtime):
        policy = {"first_checkin_after": "PT1S", "short_term_every": "P7D"}
        await register_site(js, site_id)
        assert (await api.put(f"/sites/{site_id}/followup-policy", json=policy)).status_code == 200
        before = await scrape(api)
        session = session_completed(site_id, datetime.now(UTC))
        await publish_as_booking(js, session, session.appointment_id)

        [(envelope, due)] = await eventually(
            lambda: followup_events(js, site_id, "FollowUpDue"), timeout=10
        )
        after = await scrape(api)
        assert isinstance(due, FollowUpDue)
        # On time, give or take the scheduler's poll and a loaded machine; it is counted in the
        # histogram's bucket for the delay it really had. The bus's record of it (the event's
        # time) is taken a moment before the scheduler observes it, so the observation may sit
        # one bucket up when the delay lies just under a boundary, never lower.
        late = (envelope.time - due.due_at).total_seconds()
        assert 0 <= late < 5
        delay = "followup_due_delay_seconds"
        boundaries = ("0.05", "0.1", "0.25", "0.5", "1.0", "2.0", "5.0")

        def counted(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert counted("followup_due_emitted_total", kind="checkin") == 1
        assert counted(f"{delay}_count") == 1
        in_bucket = {b: counted(f"{delay}_bucket", le=b) for b in boundaries}
        its_bucket = next(b for b in boundaries if in_bucket[b] == 1)
        assert all(in_bucket[b] == 1 for b in boundaries[boundaries.index(its_bucket) :])
        assert late <= float(its_bucket)
        below = boundaries[boundaries.index(its_bucket) - 1] if its_bucket != "0.05" else "0"
        assert float(below) < late + 0.25

        # The gauges agree with the table (this module's earlier follow-ups included).
        async def gauges_match_the_table() -> bool:
            counts = await runtime.db().fetchrow(
                """SELECT count(*) FILTER (WHERE status = 'scheduled') AS scheduled,
                          count(*) FILTER (WHERE status = 'due') AS due
                   FROM followups"""
            )
            assert counts is not None
            return await backlog_shows(
                api, scheduled=counts["scheduled"], due=counts["due"], overdue=0
            )

        await eventually(gauges_match_the_table)
