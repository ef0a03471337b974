"""A Twilio text or page call whose answer never came is not sent again after notify restarts:
the record of the send is in notify's database (`twilio_unknown_outcomes`), so the retry made
by the next notify process lists Twilio's messages or calls first (a fake Twilio,
tests/fake_twilio.py). Each test runs two notify apps one after the other on one database."""

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import nats
import pytest

from counseling_shared.codes import Channel
from counseling_shared.events import PageRequested
from devstack.sinks import Sinks
from notify.application.erasure import erase_client
from notify.settings import NotifySettings
from tests.fake_twilio import FakeTwilio, Scripted, notify_twilio_settings
from tests.notify.integration.conftest import (
    Directory,
    Notify,
    eventually,
    followup_due,
    make_settings,
    running_notify,
)

pytestmark = pytest.mark.integration

CALLER = "+15005550006"
SLOW = timedelta(minutes=10)  # no retry inside the first process: the next one makes it


@pytest.fixture
def settings(
    nats_url: str, database_url: str, notify_sinks: Sinks, twilio: FakeTwilio
) -> NotifySettings:
    return make_settings(
        nats_url,
        database_url,
        notify_sinks,
        **notify_twilio_settings(
            twilio.url, webhook_base_url="https://sms.center.example", sender=CALLER
        ),
        page_calls=True,
        page_call_url="https://crisis.center.example",
        webhook_timeout=1.0,  # Twilio's client: the scripted 3 s answer times out
        retry_base=SLOW,
        retry_max_delay=SLOW,
        crisis_retry_base=SLOW,
        crisis_retry_max_delay=SLOW,
    )


@pytest.fixture
async def directory(nats_url: str) -> AsyncIterator[Directory]:
    nc = await nats.connect(nats_url)
    found = Directory(nc)
    await found.start()
    yield found
    await nc.close()


async def first_attempt(notify: Notify, recipient_id: UUID, channel: str) -> dict[str, Any]:
    async def probe() -> list[dict[str, Any]]:
        rows = await notify.notifications(recipient_id=recipient_id)
        return [r for r in rows if r["channel"] == channel and r["attempts"] >= 1]

    [row] = await eventually(probe, timeout=15.0)
    return row


async def after_restart(notify: Notify, notification_id: str) -> dict[str, Any]:
    """The notification once the new process retried it (its clock moved past the wait)."""
    due = await notify.pool.fetchval(
        "SELECT next_attempt_at FROM notifications WHERE id = $1", UUID(notification_id)
    )
    notify.clock.jump_to(due + timedelta(seconds=1))

    async def probe() -> list[dict[str, Any]]:
        detail = await notify.notification(notification_id)
        return [detail] if detail["status"] != "pending" else []

    return (await eventually(probe, timeout=15.0))[0]


async def unknown_outcomes(notify: Notify, notification_id: str) -> list[dict[str, Any]]:
    rows = await notify.pool.fetch(
        "SELECT * FROM twilio_unknown_outcomes WHERE notification_id = $1", UUID(notification_id)
    )
    return [dict(r) for r in rows]


async def test_a_timed_out_text_is_not_sent_again_by_the_next_process(
    settings: NotifySettings, notify_sinks: Sinks, directory: Directory, twilio: FakeTwilio
) -> None:
    phone = f"+3361{uuid4().int % 10**7:07d}"
    twilio.answer(phone, Scripted(delay=3.0))  # Twilio takes it, its answer comes too late
    client_id = uuid4()
    directory.add(client_id, phone=phone, preferred_channel=Channel.SMS)

    async with running_notify(settings, notify_sinks, directory.nc, directory) as notify:
        site_id = await notify.new_site()
        due = followup_due(client_id, site_id)
        await notify.publish(due, source="followup", subject=client_id)
        row = await first_attempt(notify, client_id, "sms")
        assert row["last_error"] == "http_timeout"
        [kept] = await unknown_outcomes(notify, row["id"])
        assert kept["channel"] == "sms"
        assert phone[1:] not in str(kept)  # digests only, never the number

    async with running_notify(settings, notify_sinks, directory.nc, directory) as notify:
        detail = await after_restart(notify, row["id"])

        assert [a["outcome"] for a in detail["attempt_log"]] == ["transient_failure", "sent"]
        assert len(twilio.to(phone)) == 1  # one text, not two
        assert len(twilio.lists_for(phone)) == 1  # looked before sending again
        assert await unknown_outcomes(notify, row["id"]) == []


async def test_a_timed_out_page_call_does_not_ring_again_after_a_restart(
    settings: NotifySettings, notify_sinks: Sinks, directory: Directory, twilio: FakeTwilio
) -> None:
    phone = f"+3362{uuid4().int % 10**7:07d}"
    twilio.answer_calls(phone, Scripted(delay=3.0))  # placed, the answer comes too late

    async with running_notify(settings, notify_sinks, directory.nc, directory) as notify:
        site_id = await notify.new_site()
        staff_id = await notify.new_staff(site_id, phone=phone)
        alert_id, page_id = uuid4(), uuid4()
        page = PageRequested(
            alert_id=alert_id,
            page_id=page_id,
            staff_id=staff_id,
            site_id=site_id,
            level=1,
            reply_code=page_id.hex[:6].upper(),
        )
        await notify.publish(page, source="crisis", subject=alert_id)
        row = await first_attempt(notify, staff_id, "voice")
        assert row["last_error"] == "http_timeout"
        assert [k["channel"] for k in await unknown_outcomes(notify, row["id"])] == ["voice"]

    async with running_notify(settings, notify_sinks, directory.nc, directory) as notify:
        detail = await after_restart(notify, row["id"])

        assert [a["outcome"] for a in detail["attempt_log"]] == ["transient_failure", "sent"]
        assert len(twilio.calls_to(phone)) == 1  # the on-call phone rang once
        [asked] = twilio.lists_for(phone, calls=True)
        assert asked["From"] == CALLER
        assert asked["StartTime>"]  # a day, YYYY-MM-DD
        assert await unknown_outcomes(notify, row["id"]) == []


async def test_an_erased_clients_unknown_outcomes_go_with_their_notifications(
    settings: NotifySettings, notify_sinks: Sinks, directory: Directory, twilio: FakeTwilio
) -> None:
    phone = f"+3363{uuid4().int % 10**7:07d}"
    twilio.answer(phone, Scripted(delay=3.0))
    client_id = uuid4()
    directory.add(client_id, phone=phone, preferred_channel=Channel.SMS)

    async with running_notify(settings, notify_sinks, directory.nc, directory) as notify:
        due = followup_due(client_id, await notify.new_site())
        await notify.publish(due, source="followup", subject=client_id)
        row = await first_attempt(notify, client_id, "sms")
        assert len(await unknown_outcomes(notify, row["id"])) == 1

        async with notify.pool.acquire() as conn:
            erased = await erase_client(conn, client_id)

        assert erased["twilio_unknown_outcomes"] == 1
        assert await unknown_outcomes(notify, row["id"]) == []
