"""Rebuilding notify's projections from its event store gives back exactly the live rows, keeps a
worker's lease, and leaves booking's facts alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from counseling_shared.codes import Channel, FollowUpKind, RiskLevel
from counseling_shared.db import connect
from counseling_shared.events import FollowUpDue, PageRequested
from notify.application.rebuild import rebuild_projections
from notify.application.receipts import Receipt, record_receipt
from notify.domain.codes import ReceiptStatus
from tests.notify.integration.conftest import Notify, eventually
from tests.opsctl.integration.support import counselctl
from tests.projections import rows_updated_by, snapshot

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Story:
    site_id: UUID
    staff_id: UUID  # paged by SMS and email
    emailed: UUID  # sent at once
    retried: UUID  # one SMS refused with a 503, then sent
    refused: UUID  # an SMS refused for good
    held: UUID  # inside their quiet hours: still waiting, leased by a worker
    lease: datetime
    deferred: UUID  # booking did not answer at first: deferred, then sent
    fell_back: UUID  # an SMS refused for good, then sent by email
    undelivered: UUID  # an SMS sent, its receipt failed: then sent by email


async def done(notify: Notify, recipient_id: UUID, count: int = 1) -> bool:
    rows = await notify.notifications(recipient_id=recipient_id)
    return len([r for r in rows if r["status"] != "pending"]) >= count


async def followup_due(notify: Notify, site_id: UUID, client_id: UUID) -> None:
    event = FollowUpDue(
        followup_id=uuid4(),
        client_id=client_id,
        site_id=site_id,
        kind=FollowUpKind.CHECKIN,
        due_at=datetime.now(UTC),
    )
    await notify.publish(event, source="followup", subject=client_id)


async def receipt(notify: Notify, recipient_id: UUID, status: ReceiptStatus) -> UUID:
    """A delivery receipt for the recipient's SMS, from the primary provider."""
    rows = await notify.notifications(recipient_id=recipient_id)
    [row] = [r for r in rows if r["channel"] == "sms"]
    result = await record_receipt(
        notify.pool,
        notify.clock,
        Receipt(UUID(row["id"]), status, "30003", "primary"),
        has_fallback=frozenset(),
        retry=notify.settings.crisis_retry(),
        jitter=0.0,
    )
    assert result is not None
    assert result.recorded
    return UUID(row["id"])


@pytest.fixture(scope="module")
async def story(notify: Notify) -> Story:
    site_id = await notify.new_site(timezone="Europe/Paris")
    staff_id = await notify.new_staff(site_id, phone="+33600000077")
    emailed, retried, refused, held = uuid4(), uuid4(), uuid4(), uuid4()
    deferred, fell_back, undelivered = uuid4(), uuid4(), uuid4()
    notify.directory.add(deferred, email="deferred@mail.example")
    notify.directory.add(
        fell_back,
        email="fell-back@mail.example",
        phone="+15550000401",
        preferred_channel=Channel.SMS,
    )
    notify.directory.add(emailed, email="emailed@mail.example", locale="fr")
    notify.directory.add(
        undelivered,
        email="undelivered@mail.example",
        phone="+15550000402",
        preferred_channel=Channel.SMS,
    )
    notify.directory.add(retried, phone="+15550000503", preferred_channel=Channel.SMS)
    notify.directory.add(refused, phone="+15550000400", preferred_channel=Channel.SMS)
    notify.directory.add(held, email="held@mail.example", timezone="Europe/Paris")
    await notify.new_client(site_id, held, timezone="Europe/Paris")

    await followup_due(notify, site_id, emailed)
    page = PageRequested(
        alert_id=uuid4(),
        page_id=uuid4(),
        staff_id=staff_id,
        site_id=site_id,
        level=1,
        risk_level=RiskLevel.HIGH,
    )
    await notify.publish(page, source="crisis", subject=page.alert_id)
    # The page's SMS must be out before an SMS failure is armed, or the page takes it.
    await eventually(lambda: done(notify, staff_id, 2))
    notify.sinks.http.fail_next(1, channel="sms", status=503, to="+15550000503")
    await followup_due(notify, site_id, retried)
    await eventually(lambda: done(notify, retried))
    await followup_due(notify, site_id, undelivered)
    await eventually(lambda: done(notify, undelivered))
    # Receipts, which a rebuild must restore: a client's SMS the carrier did not deliver, sent
    # again by email; another without an email address (recorded only, `sent` by its SMS);
    # and the page's SMS that failed (sent again after the back-off).
    by_email = await receipt(notify, undelivered, ReceiptStatus.FAILED)
    text_only = await receipt(notify, retried, ReceiptStatus.UNDELIVERED)
    page_sms = await receipt(notify, staff_id, ReceiptStatus.FAILED)
    for settled_sql, notification_id in (
        ("status = 'sent' AND attempts = 3", page_sms),
        ("status = 'sent' AND channel = 'email'", by_email),
        ("status = 'sent' AND last_error = 'no_address'", text_only),
    ):
        await eventually(
            lambda q=settled_sql, n=notification_id: notify.pool.fetchval(  # type: ignore[misc]
                f"SELECT {q} FROM notifications WHERE id = $1", n
            )
        )
    notify.sinks.http.fail_next(1, channel="sms", status=400, to="+15550000400")
    await followup_due(notify, site_id, refused)
    notify.sinks.http.fail_next(1, channel="sms", status=400, to="+15550000401")
    await followup_due(notify, site_id, fell_back)
    await notify.directory.stop()
    try:
        await followup_due(notify, site_id, deferred)
        await eventually(
            lambda: notify.pool.fetchval(
                "SELECT deferrals > 0 FROM notifications WHERE recipient_id = $1", deferred
            )
        )
    finally:
        await notify.directory.start()

    local_now = notify.clock.now().astimezone(ZoneInfo("Europe/Paris"))
    quiet = {
        "start": (local_now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (local_now + timedelta(hours=3)).strftime("%H:%M"),
    }
    assert (await notify.set_preferences(held, {"channel": "sms"})).status_code == 200
    answer = await notify.set_preferences(held, {"quiet_hours": quiet, "channel": "email"})
    assert answer.status_code == 200
    await followup_due(notify, site_id, held)

    for recipient, count in ((emailed, 1), (refused, 1), (fell_back, 1), (deferred, 1)):
        await eventually(lambda r=recipient, n=count: done(notify, r, n))  # type: ignore[misc]
    [waiting] = await eventually(lambda: notify.notifications(recipient_id=held))
    assert waiting["held_for"] == "quiet_hours"
    # A worker holds it right now (what `claim` leaves): a rebuild must not free it for another.
    lease = notify.clock.now() + timedelta(minutes=5)
    await notify.pool.execute(
        "UPDATE notifications SET claimed_until = $2 WHERE id = $1", UUID(waiting["id"]), lease
    )
    return Story(
        site_id, staff_id, emailed, retried, refused, held, lease, deferred, fell_back, undelivered
    )


async def test_a_rebuilt_notify_projection_equals_the_live_one(
    story: Story, notify: Notify, database_url: str
) -> None:
    live = await snapshot(database_url)
    assert {(r["status"], r["lane"]) for r in live["notifications"]} == {
        ("sent", "bulk"),
        ("sent", "crisis"),
        ("failed", "bulk"),
        ("pending", "bulk"),
    }
    assert {r["outcome"] for r in live["notification_attempts"]} == {
        "sent",
        "transient_failure",
        "permanent_failure",
    }
    assert {r["receipt_status"] for r in live["notifications"]} == {None, "undelivered", "failed"}
    assert {r["resends"] for r in live["notifications"]} == {0, 1}
    # The receipts' fallbacks: one sent by email, one dropped back to its SMS (no address).
    by_receipt = {
        r["recipient_id"]: r for r in live["notifications"] if r["resends"] and r["page_id"] is None
    }
    assert {k: (r["channel"], r["failed_channel"], r["status"]) for k, r in by_receipt.items()} == {
        story.undelivered: ("email", "sms", "sent"),
        story.retried: ("sms", "sms", "sent"),
    }
    [prefs] = live["recipient_preferences"]
    assert prefs["version"] == 2
    calls: list[tuple[int, int]] = []

    conn = await connect(database_url)
    try:
        counts = await rebuild_projections(conn, progress=lambda *call: calls.append(call))
    finally:
        await conn.close()

    assert await snapshot(database_url) == live
    assert counts == {"notification": len(live["notifications"]), "recipient_preferences": 1}
    assert calls[-1] == (sum(counts.values()), sum(counts.values()))
    leased = await notify.pool.fetchval(
        "SELECT claimed_until FROM notifications WHERE recipient_id = $1", story.held
    )
    assert leased == story.lease


async def test_a_rebuild_writes_each_notification_row_once_with_its_kept_columns(
    story: Story, database_url: str
) -> None:
    """The columns no event holds go in with each row's insert: no row is updated afterwards
    (a second version of every row in the rebuild's transaction)."""
    live = await snapshot(database_url)

    updated = await rows_updated_by(database_url, rebuild_projections, "notifications")

    assert updated == 0
    assert await snapshot(database_url) == live


async def test_counselctl_rebuild_repairs_a_damaged_notify_projection(
    story: Story, notify: Notify, database_url: str
) -> None:
    live = await snapshot(database_url)
    lost = await notify.pool.fetchval(
        "SELECT id FROM notifications WHERE recipient_id = $1", story.emailed
    )
    async with notify.pool.acquire() as conn:  # a projection gone wrong behind the store's back
        await conn.execute("DELETE FROM notification_attempts")
        await conn.execute("DELETE FROM notifications WHERE id = $1", lost)
        # (Not back to `pending`: the running workers would act on that and send it again.)
        await conn.execute(
            "UPDATE notifications SET status = 'sent', sent_at = now() WHERE recipient_id = $1",
            story.refused,
        )
        await conn.execute(
            "UPDATE notifications SET next_attempt_at = now() + interval '1 year', attempts = 9"
            " WHERE recipient_id = $1",
            story.held,
        )
        await conn.execute("DELETE FROM recipient_preferences")
        await conn.execute("UPDATE staff_contacts SET locale = 'ko'")  # booking's, not ours
    damaged = await snapshot(database_url)

    answer = await counselctl(
        "rebuild", "--service", "notify", "--database-url", database_url, "--json"
    )

    assert answer.json()["rebuilt"] == {
        "notification": len(live["notifications"]),
        "recipient_preferences": 1,
    }
    rebuilt = await snapshot(database_url)
    # Rebuilt from events (the lost row too, but the trace it came with is not in any event).
    assert rebuilt["notifications"] == [
        r | {"trace_headers": {}} if r["id"] == lost else r for r in live["notifications"]
    ]
    for table in ("notification_attempts", "recipient_preferences"):
        assert rebuilt[table] == live[table], table
    for table in ("sites", "staff_contacts", "clients"):  # booking's facts: left as they were
        assert rebuilt[table] == damaged[table], table
    assert "rebuilding notify" in answer.stderr
