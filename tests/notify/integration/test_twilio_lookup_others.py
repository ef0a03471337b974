"""A look-up for a Twilio page call of unknown outcome, with the records in notify's database
(two providers on one database: two notify processes): another page's call to the same staff
member, placed and answered for by the other process, is not taken for the one whose answer
never came, so that page rings (a wrongly unrung page is the worst outcome); nor is a call
whose page cannot be told (two pages of unknown outcome to one number)."""

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest

import notify.bootstrap
from counseling_shared.codes import NotificationChannel
from counseling_shared.db import connect, create_pool
from counseling_shared.migrations import apply_migrations
from notify.adapters.time_capped import TimeCapped
from notify.adapters.twilio_calls import TwilioCallProvider
from notify.adapters.unknown_outcomes import UnknownOutcomes
from notify.application.ports import OutgoingMessage
from notify.domain.codes import AttemptOutcome
from notify.settings import NotifySettings
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, Scripted

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Any]:
    definition = notify.bootstrap.definition()
    conn = await connect(database_url, schema="notify")
    try:
        await apply_migrations(conn, definition.migrations_dir, schema="notify")
    finally:
        await conn.close()
    pool = await create_pool(database_url, schema="notify", max_size=2)
    yield pool
    await pool.close()


def caller(twilio: FakeTwilio, client: httpx.AsyncClient, pool: Any) -> TwilioCallProvider:
    s = NotifySettings(
        SMS_PROVIDER="twilio",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_FROM="+15005550006",
        TWILIO_WEBHOOK_BASE_URL="https://sms.center.example",
        TWILIO_API_URL=twilio.url,
        PAGE_CALLS="true",
        PAGE_CALL_URL="https://crisis.center.example",
    )
    return notify.bootstrap.call_provider(s, client, UnknownOutcomes(pool, s.link_keys))


def page_call(to: str, code: str) -> OutgoingMessage:
    return OutgoingMessage(
        notification_id=uuid4(),
        channel=NotificationChannel.VOICE,
        to=to,
        subject="",
        body="",
        language="en",
        page_code=code,
    )


async def test_another_processs_page_call_does_not_stand_for_this_one(
    twilio: FakeTwilio, pool: Any
) -> None:
    number = f"+3378{uuid4().int % 10**7:07d}"
    first, second = page_call(number, "1A2B3C"), page_call(number, "9Z8Y7X")
    twilio.answer_calls(number, Scripted(status=503, code=20500, record=False))
    async with httpx.AsyncClient(timeout=2.0) as client:
        one, other = caller(twilio, client, pool), caller(twilio, client, pool)

        assert (await one.send(first)).kind is AttemptOutcome.TRANSIENT_FAILURE
        assert (await other.send(second)).kind is AttemptOutcome.SENT
        assert (await other.send(first)).kind is AttemptOutcome.SENT

    assert len(twilio.calls_to(number)) == 3  # the first page rang on its retry
    assert len(twilio.lists_for(number, calls=True)) == 1
    left = await pool.fetchval(
        "SELECT count(*) FROM twilio_unknown_outcomes WHERE notification_id = $1",
        first.notification_id,
    )
    assert left == 0


def rung(twilio: FakeTwilio, number: str, code: str) -> int:
    return sum(1 for p in twilio.calls_to(number) if f"code={code}" in p.form.get("Url", ""))


async def test_two_pages_of_unknown_outcome_ring_rather_than_take_each_others_call(
    twilio: FakeTwilio, pool: Any
) -> None:
    """The first page's call is placed but answered too late, the second's gets a 5xx: the
    second page's retry, in another process, cannot tell the call it finds from the first
    page's (its record is in the database too), so it rings, and sets that call aside."""
    number = f"+3379{uuid4().int % 10**7:07d}"
    first, second = page_call(number, "1A2B3C"), page_call(number, "9Z8Y7X")
    twilio.answer_calls(number, Scripted(delay=1.0), Scripted(status=503, record=False))
    async with httpx.AsyncClient(timeout=2.0) as client:
        one = TimeCapped(caller(twilio, client, pool), 0.3)
        other = TimeCapped(caller(twilio, client, pool), 0.3)

        assert (await one.send(first)).error_code == "provider_timeout"
        assert (await one.send(second)).kind is AttemptOutcome.TRANSIENT_FAILURE
        assert (await other.send(second)).kind is AttemptOutcome.SENT
        assert (await other.send(first)).kind is AttemptOutcome.SENT

    assert rung(twilio, number, "9Z8Y7X") == 2
    assert rung(twilio, number, "1A2B3C") == 2  # its first call was set aside: rung again
    left = await pool.fetchval(
        "SELECT count(*) FROM twilio_unknown_outcomes WHERE notification_id = ANY($1::uuid[])",
        [first.notification_id, second.notification_id],
    )
    assert left == 0
