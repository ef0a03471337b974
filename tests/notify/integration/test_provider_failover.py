"""A second SMS provider (`SMS_FALLBACK_WEBHOOK_URL`): a message the first provider cannot take
for now goes to the second at once, in the same attempt; a refusal for good is not handed on;
when both fail the message is retried as usual."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.codes import Channel
from counseling_shared.events import PageRequested
from devstack.sinks import HttpSink
from tests.notify.integration.conftest import Notify, eventually, followup_due

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fallback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpSink]:
    outbox: Path = tmp_path_factory.mktemp("fallback-outbox")
    with HttpSink(outbox) as sink:
        yield sink


@pytest.fixture(scope="module")
def notify_overrides(fallback: HttpSink) -> dict[str, Any]:
    return {"sms_fallback_webhook_url": fallback.sms_url}


async def settled(notify: Notify, recipient_id: UUID, **match: Any) -> dict[str, Any]:
    async def probe() -> list[dict[str, Any]]:
        rows = await notify.notifications(recipient_id=recipient_id)
        return [r for r in rows if r["status"] != "pending" and match.items() <= r.items()]

    found = await eventually(probe, timeout=15.0)
    return found[0]


async def due(notify: Notify, site_id: UUID, phone: str) -> UUID:
    client_id = uuid4()
    notify.directory.add(client_id, phone=phone, preferred_channel=Channel.SMS)
    await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)
    return client_id


async def test_a_page_the_first_provider_cannot_take_goes_out_through_the_second_at_once(
    notify: Notify, fallback: HttpSink
) -> None:
    site_id = await notify.new_site()
    phone = "+33655500001"
    staff_id = await notify.new_staff(site_id, phone=phone)
    notify.sinks.http.fail_next(1, channel="sms", status=503, to=phone)
    page = PageRequested(
        alert_id=uuid4(), page_id=uuid4(), staff_id=staff_id, site_id=site_id, level=1
    )

    await notify.publish(page, source="crisis", subject=page.alert_id)

    row = await settled(notify, staff_id, channel="sms")
    detail = await notify.notification(row["id"])
    assert (detail["status"], detail["attempts"]) == ("sent", 1)  # no back-off waited
    [taken] = [r for r in fallback.sms if r.to == phone]
    assert taken.idempotency_key == row["id"]
    assert [r for r in notify.sinks.http.sms if r.to == phone] == []  # the first refused it
    metrics = (await notify.http.get("/metrics")).text
    assert 'notify_provider_failovers_total{channel="sms",outcome="sent"}' in metrics


async def test_a_refusal_for_good_is_not_handed_to_the_second_provider(
    notify: Notify, fallback: HttpSink
) -> None:
    site_id = await notify.new_site()
    phone = "+15550000401"
    notify.sinks.http.fail_next(1, channel="sms", status=400, to=phone)

    client_id = await due(notify, site_id, phone)

    row = await settled(notify, client_id)
    assert (row["status"], row["last_error"]) == ("failed", "http_400")
    assert [r for r in fallback.sms if r.to == phone] == []


async def test_when_both_providers_fail_the_message_is_retried_and_sent_later(
    notify: Notify, fallback: HttpSink
) -> None:
    site_id = await notify.new_site()
    phone = "+15550000402"
    notify.sinks.http.fail_next(1, channel="sms", status=503, to=phone)
    fallback.fail_next(1, channel="sms", status=502, to=phone)

    client_id = await due(notify, site_id, phone)

    row = await settled(notify, client_id)
    detail = await notify.notification(row["id"])
    assert detail["status"] == "sent"
    assert [(a["outcome"], a["error_code"]) for a in detail["attempt_log"]] == [
        ("transient_failure", "http_503+fallback_http_502"),
        ("sent", None),
    ]
    assert len([r for r in notify.sinks.http.sms if r.to == phone]) == 1  # the first, at last
