"""What a ladder's alerts must have left once they climbed it (tests/faults/ladder.py).

For each alert nobody took: every member of every level paged exactly once (one
`PageRequested`), level after level, each level no earlier than the previous one's
`ack_timeout` after it, one `AlertEscalated` per level climbed, then one `AlertExhausted`. For
one acknowledged at level N: the same up to N, its `AlertAcknowledged`, and nothing further.
The same in crisis's own records: the alert's timeline, its pages (each delivered), its
escalation timers (each level's fired once, none left scheduled), and the audit trail (the
acknowledgement, once, by the staff key of who took it). Each page reaches its member once by
SMS and once by email, and no dead letter names the site.
"""

import asyncio
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import nats.errors
from nats.js import JetStreamContext

from tests.e2e.center import created
from tests.faults.effects import (
    Event,
    Figures,
    check_dead_letters,
    check_notifications,
    events_of,
    exited_services,
    site_events,
)
from tests.faults.ladder import LEVEL_TIMEOUTS, Ladder, Raised


def top_level(alert: Raised) -> int:
    """The last level the alert must reach: where it was taken, or the last one."""
    return alert.acknowledged_at_level or len(LEVEL_TIMEOUTS)


def check_pages(figures: Figures, ladder: Ladder, alert: Raised, crisis: list[Event]) -> None:
    """One page per level member up to the top level, none above, in order and never early."""
    pages = events_of(crisis, "PageRequested", alert_id=alert.alert_id)
    top = top_level(alert)
    for number, level in enumerate(ladder.levels[:top], start=1):
        for member in level:
            found = [
                p
                for p in pages
                if p.data["level"] == number and p.data["staff_id"] == member.staff_id
            ]
            what = f"alert {alert.alert_id}: page at level {number} for {member.staff_id}"
            figures.expect(what, 1, len(found))
    beyond = [p for p in pages if p.data["level"] > top]
    if beyond:
        figures.doubled += len(beyond)
        figures.problems.append(f"alert {alert.alert_id} paged past level {top}: {beyond}")
    position = {p.id: i for i, p in enumerate(crisis)}
    for number in range(2, top + 1):
        before = [p for p in pages if p.data["level"] == number - 1]
        after = [p for p in pages if p.data["level"] == number]
        if not before or not after:
            continue  # missing: counted above
        if max(position[p.id] for p in before) > min(position[p.id] for p in after):
            figures.problems.append(f"alert {alert.alert_id}: level {number} paged out of order")
        earliest = max(_requested(p) for p in before) + timedelta(
            seconds=LEVEL_TIMEOUTS[number - 2]
        )
        if (early := min(_requested(p) for p in after)) < earliest:
            figures.problems.append(
                f"alert {alert.alert_id}: level {number} paged at {early}, before {earliest}"
            )


def _requested(page: Event) -> datetime:
    return datetime.fromisoformat(page.data["requested_at"])


def check_steps(figures: Figures, alert: Raised, crisis: list[Event]) -> None:
    """One `AlertEscalated` per level climbed, in order; then exhausted, or acknowledged."""
    top = top_level(alert)
    climbed = [
        e.data["current_level"]
        for e in events_of(crisis, "AlertEscalated", alert_id=alert.alert_id)
    ]
    counts = Counter(climbed)
    for number in range(2, top + 1):
        figures.expect(f"alert {alert.alert_id}: AlertEscalated to {number}", 1, counts[number])
    if climbed != sorted(climbed) or any(n > top for n in climbed):
        figures.problems.append(f"alert {alert.alert_id}: escalated {climbed}, top {top}")
    taken = alert.acknowledged_by is not None
    exhausted = events_of(crisis, "AlertExhausted", alert_id=alert.alert_id)
    acknowledged = events_of(crisis, "AlertAcknowledged", alert_id=alert.alert_id)
    figures.expect(f"alert {alert.alert_id}: AlertExhausted", 0 if taken else 1, len(exhausted))
    figures.expect(f"alert {alert.alert_id}: AlertAcknowledged", int(taken), len(acknowledged))


def check_sinks(figures: Figures, ladder: Ladder, crisis: list[Event]) -> None:
    """Each member's pages reached them once by email and once by SMS."""
    sinks = ladder.suite.sinks
    for member in ladder.members:
        pages = len(events_of(crisis, "PageRequested", staff_id=member.staff_id))
        emails = {
            str(e.message["Message-ID"]) for e in sinks.smtp.messages if member.email in e.rcpt_tos
        }
        texts = {str(r.idempotency_key) for r in sinks.http.requests("sms") if r.to == member.phone}
        figures.deliveries_checked += 2 * pages
        figures.expect(f"page emails to {member.staff_id}", pages, len(emails))
        figures.expect(f"page texts to {member.staff_id}", pages, len(texts))


def check_timeline(figures: Figures, alert: Raised, view: dict[str, Any]) -> None:
    """crisis's own account of the alert: the same steps, in the same order."""
    where = f"alert {alert.alert_id}"
    steps = sorted(view["timeline"], key=lambda s: s["seq"])
    kinds = [s["kind"] for s in steps]
    top = top_level(alert)
    climbed = [s["level"] for s in steps if s["kind"] == "escalated"]
    if climbed != list(range(2, top + 1)):
        figures.problems.append(f"{where}: timeline escalated to {climbed}, top {top}")
    paged = Counter((s["level"], s["staff_id"]) for s in steps if s["kind"] == "page_requested")
    if any(n != 1 for n in paged.values()) or len(paged) != len(view["pages"]):
        figures.problems.append(f"{where}: timeline pages {dict(paged)}")
    undelivered = [p for p in view["pages"] if p["sent_at"] is None]
    if undelivered:
        figures.problems.append(f"{where}: pages not delivered: {undelivered}")
    last_climb = max(
        (i for i, k in enumerate(kinds) if k in ("escalated", "page_requested")), default=-1
    )
    if alert.acknowledged_by is None:
        if kinds.count("exhausted") != 1 or kinds.index("exhausted") < last_climb:
            figures.problems.append(f"{where}: timeline does not end exhausted: {kinds}")
        if not view["exhausted"] or view["status"] != "open":
            figures.problems.append(f"{where}: {view['status']}, exhausted {view['exhausted']}")
        return
    taken = [s for s in steps if s["kind"] == "acknowledged"]
    if len(taken) != 1 or taken[0]["staff_id"] != alert.acknowledged_by.staff_id:
        figures.problems.append(f"{where}: timeline acknowledgements {taken}")
    elif kinds.index("acknowledged") < last_climb or "exhausted" in kinds:
        figures.problems.append(f"{where}: escalated after its acknowledgement: {kinds}")
    if view["status"] != "acknowledged" or view["current_level"] != top:
        figures.problems.append(f"{where}: {view['status']} at level {view['current_level']}")


def check_audit(figures: Figures, alert: Raised, entries: list[dict[str, Any]]) -> None:
    """The acknowledgement is in the audit trail once, as its staff member, answered 200."""
    member = alert.acknowledged_by
    assert member is not None
    mine = [e for e in entries if e["resource_id"] == alert.alert_id]
    accepted = [e for e in mine if e["status"] == 200]
    if len(accepted) != 1 or accepted[0]["actor"] != {"kind": "staff", "id": member.staff_id}:
        figures.problems.append(f"alert {alert.alert_id}: audit entries {mine}")


async def check_timers(figures: Figures, ladder: Ladder) -> None:
    """Each level's deadline fired once and no timer is left scheduled; an acknowledged
    alert's deadline at its top level was cancelled."""
    conn = await asyncpg.connect(ladder.suite.database_url("crisis"))
    try:
        rows = await conn.fetch(
            "SELECT alert_id::text, level, status FROM escalation_timers"
            " WHERE alert_id = ANY($1::uuid[])",
            [a.alert_id for a in ladder.alerts],
        )
    finally:
        await conn.close()
    for alert in ladder.alerts:
        mine = {(r["level"], r["status"]) for r in rows if r["alert_id"] == alert.alert_id}
        top = top_level(alert)
        fired = range(1, top) if alert.acknowledged_by else range(1, top + 1)
        expected = {(level, "fired") for level in fired}
        if alert.acknowledged_by:
            expected.add((top, "cancelled"))
        if mine != expected:
            figures.problems.append(f"alert {alert.alert_id}: timers {sorted(mine)}")


async def check_crisis_records(figures: Figures, ladder: Ladder) -> None:
    async with ladder.suite.client("crisis") as crisis:
        for alert in ladder.alerts:
            view = created(await crisis.get(f"/alerts/{alert.alert_id}"))
            check_timeline(figures, alert, view)
            if alert.acknowledged_by is not None:
                params = {"actor_id": alert.acknowledged_by.staff_id, "limit": "200"}
                entries = created(await crisis.get("/audit", params=params))["items"]
                check_audit(figures, alert, entries)
    await check_timers(figures, ladder)


async def check_ladder(js: JetStreamContext, ladder: Ladder) -> Figures:
    figures = Figures()
    events = await site_events(js, ladder.site_id)
    figures.events_checked = sum(len(v) for v in events.values())
    for context, stream_events in events.items():
        for event_id, count in Counter(e.id for e in stream_events).items():
            figures.expect(f"{context} event {event_id} on its stream", 1, count)
    for alert in ladder.alerts:
        check_pages(figures, ladder, alert, events["crisis"])
        check_steps(figures, alert, events["crisis"])
    check_notifications(figures, events)
    check_sinks(figures, ladder, events["crisis"])
    await check_crisis_records(figures, ladder)
    await check_dead_letters(figures, ladder.suite, ladder.site_id)
    return figures


async def climbed(
    js: JetStreamContext, ladder: Ladder, *, timeout: float, settle: float = 2.0
) -> tuple[Figures, float]:
    """Poll until every alert has climbed as far as it should, with nothing doubled or out of
    place, then look once more after `settle` seconds (a late page shows up there). Returns
    the figures and the seconds it took; fails with them when it never got there."""
    started = time.monotonic()
    figures = Figures()
    while time.monotonic() - started < timeout:
        if exited := exited_services(ladder.suite):
            raise AssertionError("\n".join(exited))
        try:
            figures = await check_ladder(js, ladder)
        except (OSError, nats.errors.Error, asyncpg.PostgresError, httpx.HTTPError) as error:
            figures = Figures(problems=[f"cannot check yet: {error!r}"])
        except AssertionError as error:  # crisis answered other than 200: not back yet
            figures = Figures(problems=[f"crisis not answering yet: {error}"])
        # A double stays a double: no need to wait for the rest.
        assert not figures.doubled, figures.summary()
        if figures.clean:
            took = time.monotonic() - started
            await asyncio.sleep(settle)
            final = await check_ladder(js, ladder)
            assert final.clean, final.summary()
            return final, took
        # What it still waits for (shown with a failure, or with `-s`).
        waiting = "; ".join(figures.problems[:3])
        print(f"ladder {ladder.site_id} at {time.monotonic() - started:.1f} s: {waiting}")
        await asyncio.sleep(1.0)
    raise AssertionError(f"the ladder never completed: {figures.summary()}")
