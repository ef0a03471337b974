"""The durable timers under faults: each fires once, at its time or as soon as its service is
back, never early, never twice.

- Escalation: alerts climb a ladder while crisis is SIGKILLed, or PostgreSQL is stopped, in the
  middle of their escalation: each level is paged exactly once, in order and never early, and
  an alert acknowledged mid-way escalates no further (tests/faults/climbed.py). Two waves of
  alerts, a second and a half apart, so that when the fault strikes the first wave is at level
  2 and the second at level 1: deadlines of both levels fall due during the fault.
- Check-ins: followup is SIGKILLed between planning check-ins and their due time; those due
  while it is down fall due once it is back, the others at their time.
- A page's retry: notify is SIGKILLed while a page's SMS waits for its next try (the provider
  refused it); the SMS goes out once after the restart.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from nats.js import JetStreamContext

from devstack.nats import NatsServer
from devstack.postgres import PostgresServer
from tests.e2e.center import created, listed
from tests.e2e.harness import Suite, eventually
from tests.faults.climbed import climbed
from tests.faults.conftest import observer
from tests.faults.effects import Figures, events_of, read_subject, recovered, site_events
from tests.faults.ladder import Ladder, Raised, restart_crisis_with
from tests.faults.load import Site

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

WAVE = 3
"""Alerts per wave."""

WAVE_GAP = 1.5
DOWN = 2.0
"""How long crisis stays down after its first SIGKILL, before its start-up (half that after the
second): the deadlines due meanwhile are the point of the first."""

POSTGRES_OUTAGE = 10.0
CLIMB_TIMEOUT = 60.0


@pytest.fixture(scope="module")
async def js(fault_nats: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await observer(fault_nats.url)
    try:
        yield nc.jetstream(timeout=5.0)
    finally:
        await nc.close()


@pytest.fixture(scope="module")
async def ladders(fault_suite: Suite) -> dict[str, Ladder]:
    """A ladder site per test; crisis restarted once with every member's staff key."""
    opened = {name: await Ladder.open(fault_suite) for name in ("sigkill", "postgres")}
    await restart_crisis_with(
        fault_suite, [entry for ladder in opened.values() for entry in ladder.key_entries()]
    )
    return opened


async def raise_waves(ladder: Ladder) -> tuple[list[Raised], list[Raised]]:
    first = [await ladder.raise_alert() for _ in range(WAVE)]
    await asyncio.sleep(WAVE_GAP)
    second = [await ladder.raise_alert() for _ in range(WAVE)]
    return first, second


async def take_at_level_2(js: JetStreamContext, ladder: Ladder, alert: Raised) -> None:
    """Once level 2's pages of `alert` have reached its members (SMS and email: an
    acknowledgement withdraws what is still pending), its first member takes it."""

    async def delivered() -> bool:
        events = await site_events(js, ladder.site_id)
        pages = {
            str(p.data["page_id"])
            for p in events_of(events["crisis"], "PageRequested", alert_id=alert.alert_id)
            if p.data["level"] == 2
        }
        sent = [
            e
            for e in events_of(events["notify"], "NotificationSent")
            if str(e.data.get("page_id")) in pages
        ]
        return len(pages) == len(ladder.levels[1]) and len(sent) == 2 * len(pages)

    await eventually(delivered, timeout=30, interval=0.2)
    await ladder.acknowledge(alert, ladder.levels[1][0])


async def next_deadline(ladder: Ladder, alert: Raised) -> datetime:
    """The alert's pending escalation deadline, once it lies ahead (right after a restart, an
    overdue one may not have fired yet)."""

    async def ahead() -> datetime | None:
        async with ladder.suite.client("crisis") as crisis:
            view = created(await crisis.get(f"/alerts/{alert.alert_id}"))
        due = view["escalation_due_at"] and datetime.fromisoformat(view["escalation_due_at"])
        return due if due and due > datetime.now(UTC) else None

    due: datetime = await eventually(ahead, timeout=30, interval=0.1)
    return due


def record(
    figures: list[dict[str, Any]],
    name: str,
    timers: int,
    fault_seconds: float,
    found: Figures,
    took: float,
    test_seconds: float,
) -> None:
    entry = {
        "fault": name,
        "fault_seconds": round(fault_seconds, 1),
        "timers": timers,
        "events_checked": found.events_checked,
        "deliveries_checked": found.deliveries_checked,
        "lost": found.lost,
        "doubled": found.doubled,
        "recovered": True,
        "recovery_seconds": round(took, 1),
        "test_seconds": round(test_seconds, 1),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    figures.append(entry)
    print(f"\nfault {name}: {entry}")


async def test_alerts_climb_every_level_once_through_crisis_sigkills(
    fault_suite: Suite,
    ladders: dict[str, Ladder],
    js: JetStreamContext,
    fault_figures: list[dict[str, Any]],
) -> None:
    ladder = ladders["sigkill"]
    began = time.monotonic()
    first, second = await raise_waves(ladder)
    await take_at_level_2(js, ladder, first[0])
    # First kill: the first wave's level 3 and the second wave's level 2 fall due while
    # crisis is down; they are paged once it is back, late but once.
    fault_started = time.monotonic()
    fault_suite.kill("crisis")
    await asyncio.sleep(DOWN)
    await fault_suite.restart("crisis")
    # Second kill: as the second wave's level 3 falls due, so that it may land while a
    # deadline is being fired (before its commit: fired again; after: never again).
    due = await next_deadline(ladder, second[-1])
    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
    fault_suite.kill("crisis")
    await asyncio.sleep(DOWN / 2)
    await fault_suite.restart("crisis")
    fault_ended = time.monotonic()
    found, took = await climbed(js, ladder, timeout=CLIMB_TIMEOUT)
    assert (found.lost, found.doubled) == (0, 0)
    record(
        fault_figures,
        "crisis SIGKILLed twice mid-escalation",
        len(ladder.alerts),
        fault_ended - fault_started,
        found,
        took,
        time.monotonic() - began,
    )


async def test_alerts_climb_every_level_once_through_a_postgres_outage(
    fault_postgres: PostgresServer,
    ladders: dict[str, Ladder],
    js: JetStreamContext,
    fault_figures: list[dict[str, Any]],
) -> None:
    ladder = ladders["postgres"]
    began = time.monotonic()
    first, _ = await raise_waves(ladder)
    await take_at_level_2(js, ladder, first[0])
    fault_started = time.monotonic()
    await asyncio.to_thread(fault_postgres.stop)
    await asyncio.sleep(POSTGRES_OUTAGE)
    await asyncio.to_thread(fault_postgres.start)
    fault_ended = time.monotonic()
    found, took = await climbed(js, ladder, timeout=CLIMB_TIMEOUT)
    assert (found.lost, found.doubled) == (0, 0)
    record(
        fault_figures,
        f"PostgreSQL stopped {POSTGRES_OUTAGE:.0f} s mid-escalation",
        len(ladder.alerts),
        fault_ended - fault_started,
        found,
        took,
        time.monotonic() - began,
    )


SESSIONS = 2
"""Sessions completed per check-in site."""

CHECKIN_SOON = 6
"""Seconds from a session to its check-in, on the site whose check-ins fall due while followup
is down."""

CHECKIN_LATER = 14
"""The same, on the site whose check-ins fall due after followup is back."""

ON_TIME = 3.0
"""How late a timer may fire after its time (or after its service is back) on a loaded
machine: the schedulers look within a second."""


async def planned_checkins(js: JetStreamContext, site: Site) -> dict[str, datetime] | None:
    """The site's check-ins as followup announced them (`FollowUpScheduled`), by follow-up id;
    None until there is one per session."""
    events = await read_subject(js, "FOLLOWUP", f"followup.{site.site_id}.FollowUpScheduled")
    planned = {
        str(e.data["followup_id"]): datetime.fromisoformat(e.data["due_at"])
        for e in events
        if e.data["kind"] == "checkin"
    }
    return planned if len(planned) == SESSIONS else None


async def test_checkins_fall_due_once_through_a_followup_sigkill(
    fault_suite: Suite, js: JetStreamContext, fault_figures: list[dict[str, Any]]
) -> None:
    began = time.monotonic()
    soon = await Site.open(fault_suite, first_checkin_after=f"PT{CHECKIN_SOON}S")
    later = await Site.open(fault_suite, first_checkin_after=f"PT{CHECKIN_LATER}S")
    planned: dict[str, dict[str, datetime]] = {}
    for site in (soon, later):
        await site.complete_sessions(SESSIONS)
    for site in (soon, later):
        planned[site.site_id] = await eventually(
            lambda site=site: planned_checkins(js, site), timeout=30, interval=0.2
        )
    killed_at = datetime.now(UTC)
    fault_started = time.monotonic()
    fault_suite.kill("followup")
    assert killed_at < min(planned[soon.site_id].values()), "planned too slowly for this test"
    last_soon = max(planned[soon.site_id].values())
    await asyncio.sleep((last_soon - datetime.now(UTC)).total_seconds() + 0.5)
    await fault_suite.restart("followup")
    back_at = datetime.now(UTC)
    fault_ended = time.monotonic()
    assert back_at < min(planned[later.site_id].values()), "followup took too long to start"
    found = Figures()
    for site in (soon, later):
        figures, took = await recovered(js, site, fault_ended=fault_ended, timeout=60)
        assert took is not None, figures.summary()
        found.events_checked += figures.events_checked
        found.deliveries_checked += figures.deliveries_checked
    # Each check-in once (checked above), for the time it was planned, never before it: those
    # due while followup was down as soon as it was back, the others at their time.
    for site, after in ((soon, back_at), (later, None)):
        due = await read_subject(js, "FOLLOWUP", f"followup.{site.site_id}.FollowUpDue")
        assert len(due) == SESSIONS
        for event in due:
            planned_at = planned[site.site_id][str(event.data["followup_id"])]
            assert datetime.fromisoformat(event.data["due_at"]) == planned_at
            assert event.time is not None
            assert event.time >= planned_at, (event, planned_at)
            assert (event.time - (after or planned_at)).total_seconds() <= ON_TIME, event
    record(
        fault_figures,
        "followup SIGKILLed between planning check-ins and their time",
        2 * SESSIONS,
        fault_ended - fault_started,
        found,
        time.monotonic() - fault_ended,
        time.monotonic() - began,
    )


SMS_REFUSALS = 3
"""How many times the SMS provider refuses the page (503) before it takes it."""


async def test_a_page_waiting_to_be_retried_goes_out_once_through_a_notify_sigkill(
    fault_suite: Suite, js: JetStreamContext, fault_figures: list[dict[str, Any]]
) -> None:
    began = time.monotonic()
    site = await Site.open(fault_suite)
    oncall = site.oncall
    fault_suite.sinks.http.fail_next(SMS_REFUSALS, channel="sms", to=oncall["phone"])
    await site.raise_flag()

    async def page_sms() -> dict[str, Any] | None:
        async with fault_suite.client("notify") as notify:
            params = {"recipient_id": oncall["id"], "lane": "crisis"}
            rows = listed(await notify.get("/notifications", params=params))
        return next((r for r in rows if r["channel"] == "sms"), None)

    async def waiting_to_retry() -> bool:
        sms = await page_sms()
        return sms is not None and sms["status"] == "pending" and sms["attempts"] >= 2

    await eventually(waiting_to_retry, timeout=30, interval=0.1)
    fault_started = time.monotonic()
    fault_suite.kill("notify")
    await asyncio.sleep(1.0)
    await fault_suite.restart("notify")
    fault_ended = time.monotonic()
    found, took = await recovered(js, site, fault_ended=fault_ended, timeout=60)
    assert took is not None, found.summary()
    sent = await page_sms()
    assert sent is not None
    assert sent["status"] == "sent", sent
    assert sent["attempts"] >= SMS_REFUSALS + 1, sent
    record(
        fault_figures,
        "notify SIGKILLed while a page's SMS waited for its retry",
        1,
        fault_ended - fault_started,
        found,
        took,
        time.monotonic() - began,
    )
