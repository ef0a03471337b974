"""A rebuild writing its rows in batches gives back exactly the live rows, with many aggregates
of every kind and batches smaller than a kind (a lost attempt row, an update run before its
insert or a lost last batch would show as a difference)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from counseling_shared.codes import Channel, FollowUpKind, RiskLevel
from counseling_shared.events import FollowUpDue, PageRequested
from notify.application.rebuild import rebuild_projections
from tests.notify.integration.conftest import Notify, eventually
from tests.projections import rebuild_in_small_batches, snapshot

pytestmark = pytest.mark.integration

EACH = 3  # recipients of each story: emailed, retried SMS, refused SMS, paged staff


async def _due(notify: Notify, site_id: UUID, client_id: UUID) -> None:
    event = FollowUpDue(
        followup_id=uuid4(),
        client_id=client_id,
        site_id=site_id,
        kind=FollowUpKind.CHECKIN,
        due_at=datetime.now(UTC),
    )
    await notify.publish(event, source="followup", subject=client_id)


async def _settled(notify: Notify, recipient_id: UUID, count: int = 1) -> bool:
    rows = await notify.notifications(recipient_id=recipient_id)
    return len([r for r in rows if r["status"] != "pending"]) >= count


async def _prefer(notify: Notify, recipient_id: UUID, channel: str) -> bool:
    answer = await notify.set_preferences(recipient_id, {"channel": channel})
    return answer.status_code == 200


async def _one_by_one(notify: Notify, site_id: UUID, recipient_id: UUID) -> None:
    await _due(notify, site_id, recipient_id)
    await eventually(lambda: _settled(notify, recipient_id))


async def test_a_rebuild_in_small_batches_of_many_aggregates_equals_the_live_projection(
    notify: Notify, database_url: str
) -> None:
    site_id = await notify.new_site(timezone="UTC")
    recipients: list[tuple[UUID, int]] = []
    for n in range(EACH):
        emailed, retried, refused = uuid4(), uuid4(), uuid4()
        notify.directory.add(emailed, email=f"e{n}@mail.example")
        notify.directory.add(retried, phone=f"+1555000{n:04d}", preferred_channel=Channel.SMS)
        notify.directory.add(refused, phone=f"+1555100{n:04d}", preferred_channel=Channel.SMS)
        await notify.new_client(site_id, emailed, timezone="UTC")
        # Two versions of the recipient's preferences (the first once notify knows them).
        await eventually(lambda r=emailed: _prefer(notify, r, "sms"))  # type: ignore[misc]
        assert await _prefer(notify, emailed, "email")
        await _due(notify, site_id, emailed)
        notify.sinks.http.fail_next(1, channel="sms", status=503, to=f"+1555000{n:04d}")
        await _one_by_one(notify, site_id, retried)
        notify.sinks.http.fail_next(1, channel="sms", status=400, to=f"+1555100{n:04d}")
        await _one_by_one(notify, site_id, refused)
        staff_id = await notify.new_staff(site_id, phone=f"+3360000{n:04d}")
        page = PageRequested(
            alert_id=uuid4(),
            page_id=uuid4(),
            staff_id=staff_id,
            site_id=site_id,
            level=1,
            risk_level=RiskLevel.HIGH,
        )
        await notify.publish(page, source="crisis", subject=page.alert_id)
        recipients += [(emailed, 1), (staff_id, 2)]
    for recipient, count in recipients:
        await eventually(lambda r=recipient, c=count: _settled(notify, r, c))  # type: ignore[misc]
    live = await snapshot(database_url)
    assert len(live["recipient_preferences"]) >= EACH
    assert {r["outcome"] for r in live["notification_attempts"]} == {
        "sent",
        "transient_failure",
        "permanent_failure",
    }
    counts = await rebuild_in_small_batches(database_url, rebuild_projections)

    assert await snapshot(database_url) == live
    assert counts == {
        "notification": len(live["notifications"]),
        "recipient_preferences": len(live["recipient_preferences"]),
    }
