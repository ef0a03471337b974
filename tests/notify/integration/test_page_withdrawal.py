"""A page's retries are withdrawn once its alert is acknowledged (or resolved): nobody's phone
keeps ringing for an alert someone already took."""

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.codes import RiskLevel
from counseling_shared.events import AlertAcknowledged, AlertResolved, PageRequested
from tests.notify.integration.conftest import Notify, eventually

pytestmark = pytest.mark.integration
MINUTE = timedelta(minutes=1)


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, Any]:
    # A failed page waits long for its retry: the alert is taken meanwhile.
    return {
        "crisis_retry_base": timedelta(seconds=60),
        "crisis_retry_max_delay": timedelta(minutes=2),
    }


async def page_rows(notify: Notify, page_id: UUID) -> dict[str, Any]:
    rows = await notify.pool.fetch(
        "SELECT channel, status, attempts, alert_id FROM notifications WHERE page_id = $1",
        page_id,
    )
    return {r["channel"]: r for r in rows}


@pytest.mark.parametrize("closing", [AlertAcknowledged, AlertResolved])
async def test_a_pages_pending_retry_is_withdrawn_when_its_alert_is_closed(
    notify: Notify, closing: type[AlertAcknowledged] | type[AlertResolved]
) -> None:
    site_id = await notify.new_site()
    staff_id = await notify.new_staff(site_id, phone="+33644444444")
    alert_id, page_id = uuid4(), uuid4()
    notify.sinks.http.fail_next(1, channel="sms", status=503, to="+33644444444")
    await notify.publish(
        PageRequested(
            alert_id=alert_id, page_id=page_id, staff_id=staff_id, site_id=site_id, level=1
        ),
        source="crisis",
        subject=alert_id,
    )

    async def sms_waits_for_its_retry_and_email_went_out() -> bool:
        rows = await page_rows(notify, page_id)
        sms, email = rows.get("sms"), rows.get("email")
        return (
            sms is not None
            and (sms["status"], sms["attempts"]) == ("pending", 1)
            and email is not None
            and email["status"] == "sent"
        )

    await eventually(sms_waits_for_its_retry_and_email_went_out, timeout=20.0)
    assert (await page_rows(notify, page_id))["sms"]["alert_id"] == alert_id

    await notify.publish(
        closing(
            alert_id=alert_id,
            client_id=uuid4(),
            site_id=site_id,
            level=RiskLevel.HIGH,
            current_level=1,
            staff_id=staff_id,
        ),
        source="crisis",
        subject=alert_id,
    )

    async def sms_withdrawn() -> bool:
        return bool((await page_rows(notify, page_id))["sms"]["status"] == "withdrawn")

    await eventually(sms_withdrawn, timeout=20.0)
    rows = await page_rows(notify, page_id)
    assert rows["sms"]["attempts"] == 1
    assert rows["email"]["status"] == "sent"  # already delivered: stays as it was
    listed = await notify.notifications(recipient_id=str(staff_id), status="withdrawn")
    assert [n["channel"] for n in listed] == ["sms"]


async def test_an_acknowledgement_withdraws_only_the_pages_requested_before_it(
    notify: Notify,
) -> None:
    """crisis re-opens an acknowledged alert whose risk rises and pages its acknowledger again:
    that page may be read before the acknowledgement (two consumers), which must not withdraw
    it. Pages are told apart by `requested_at` against the acknowledgement's `time`."""
    site_id = await notify.new_site()
    staff_id = await notify.new_staff(site_id, phone="+33655555555")
    alert_id, before, after = uuid4(), uuid4(), uuid4()
    # The acknowledgement below is published (its envelope `time`) within the test's 20 s
    # waits: `before` was requested ahead of it, `after` (the re-opening's page) after it.
    now = notify.clock.now()
    notify.sinks.http.fail_next(2, channel="sms", status=503, to="+33655555555")
    for page_id, requested_at in ((before, now - MINUTE), (after, now + 10 * MINUTE)):
        page = PageRequested(
            alert_id=alert_id,
            page_id=page_id,
            staff_id=staff_id,
            site_id=site_id,
            level=1,
            requested_at=requested_at,
        )
        await notify.publish(page, source="crisis", subject=alert_id)

    async def both_wait_for_a_retry() -> bool:
        for page_id in (before, after):
            sms = (await page_rows(notify, page_id)).get("sms")
            if sms is None or (sms["status"], sms["attempts"]) != ("pending", 1):
                return False
        return True

    await eventually(both_wait_for_a_retry, timeout=20.0)
    await notify.publish(
        AlertAcknowledged(
            alert_id=alert_id,
            client_id=uuid4(),
            site_id=site_id,
            level=RiskLevel.MODERATE,
            current_level=1,
            staff_id=staff_id,
        ),
        source="crisis",
        subject=alert_id,
    )

    async def older_withdrawn() -> bool:
        return bool((await page_rows(notify, before))["sms"]["status"] == "withdrawn")

    await eventually(older_withdrawn, timeout=20.0)
    assert (await page_rows(notify, after))["sms"]["status"] == "pending"
