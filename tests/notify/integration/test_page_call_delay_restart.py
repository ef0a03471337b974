"""`PAGE_CALL_DELAY` is durable: the call's not-before time is its row's `next_attempt_at`, so a
notify restarted during the delay places the call when it falls due, neither early nor never.
Two notify apps one after the other on one database (as test_twilio_restarts)."""

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import nats
import pytest

from devstack.sinks import Sinks
from notify.settings import NotifySettings
from tests.fake_twilio import FakeTwilio
from tests.notify.integration.conftest import Directory, make_settings, running_notify
from tests.notify.integration.test_page_call_delay import (
    DELAY,
    QUIET,
    a_phone,
    page,
    texts_out,
    twilio_settings,
    voice_status,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def restart_settings(
    nats_url: str, database_url: str, notify_sinks: Sinks, twilio: FakeTwilio
) -> NotifySettings:
    return make_settings(nats_url, database_url, notify_sinks, **twilio_settings(twilio))


@pytest.fixture
async def directory(nats_url: str) -> AsyncIterator[Directory]:
    nc = await nats.connect(nats_url)
    found = Directory(nc)
    await found.start()
    yield found
    await nc.close()


async def test_a_restart_during_the_delay_still_calls_on_time(
    restart_settings: NotifySettings,
    notify_sinks: Sinks,
    directory: Directory,
    twilio: FakeTwilio,
) -> None:
    phone = a_phone()
    async with running_notify(restart_settings, notify_sinks, directory.nc, directory) as first:
        _, staff_id, _, requested_at = await page(first, phone)
        await texts_out(first, staff_id)
        await asyncio.sleep(QUIET)
        assert twilio.calls_to(phone) == []

    async with running_notify(restart_settings, notify_sinks, directory.nc, directory) as second:
        second.clock.jump_to(requested_at + DELAY - timedelta(seconds=5))
        await asyncio.sleep(QUIET)
        assert twilio.calls_to(phone) == []

        second.clock.jump_to(requested_at + DELAY)
        sent = await voice_status(second, staff_id, "sent")
        assert len(twilio.calls_to(phone)) == 1
        [attempt] = (await second.notification(sent["id"]))["attempt_log"]
        assert datetime.fromisoformat(attempt["at"]) >= requested_at + DELAY
