"""notify's Twilio sender against a fake Twilio (tests/fake_twilio.py): the form and the
credential it sends, the status callback URL, what each of Twilio's refusals means, and no
second text or call when a send's answer never came but Twilio took it (in this process; across
a restart: tests/notify/integration/test_twilio_restarts.py)."""

import base64
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import httpx
import pytest
from prometheus_client import REGISTRY

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import NotificationChannel
from counseling_shared.service import Runtime
from notify.adapters.failover import FailoverProvider
from notify.adapters.time_capped import TimeCapped
from notify.adapters.twilio import TwilioProvider
from notify.adapters.twilio_calls import TwilioCallProvider
from notify.adapters.unknown_outcomes import UnknownOutcomes
from notify.application.ports import OutgoingMessage
from notify.bootstrap import call_provider, providers, twilio_provider
from notify.domain.codes import AttemptOutcome
from notify.settings import NotifySettings
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, Scripted

TRANSIENT, PERMANENT, SENT = (
    AttemptOutcome.TRANSIENT_FAILURE,
    AttemptOutcome.PERMANENT_FAILURE,
    AttemptOutcome.SENT,
)
PUBLIC = "https://sms.center.example/notify"
KEY_SECRET = "key-s3cret"  # noqa: S105 (a test credential)


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2.0) as c:
        yield c


def settings(twilio: FakeTwilio, **more: str) -> NotifySettings:
    values = {
        "SMS_PROVIDER": "twilio",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM": "+15005550006",
        "TWILIO_WEBHOOK_BASE_URL": PUBLIC,
        "TWILIO_API_URL": twilio.url,
        **more,
    }
    return NotifySettings(**values)  # type: ignore[arg-type]


def provider(twilio: FakeTwilio, client: httpx.AsyncClient, **more: str) -> TwilioProvider:
    return twilio_provider(settings(twilio, **more), client, role="primary")


def message(resends: int = 0, notification_id: UUID | None = None) -> OutgoingMessage:
    return OutgoingMessage(
        notification_id=notification_id or uuid4(),
        channel=NotificationChannel.SMS,
        to=f"+33 6 {uuid4().int % 10**8:08d}",  # as booking keeps it, spaces and all
        subject="",
        body="Your check-in: https://x.example/f?token=abc",
        language="en",
        resends=resends,
    )


def e164(number: str) -> str:
    return number.replace(" ", "")


async def test_it_posts_twilios_form_with_basic_auth_and_our_callback(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    sent = message(resends=2)

    outcome = await provider(twilio, client).send(sent)

    assert outcome.kind is SENT
    [posted] = twilio.to(e164(sent.to))
    assert posted.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert (
        posted.authorization
        == "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    )
    assert posted.form["Body"] == sent.body
    assert posted.form["From"] == "+15005550006"
    assert "MessagingServiceSid" not in posted.form
    callback = urlsplit(posted.form["StatusCallback"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == (
        PUBLIC + "/inbound/sms/twilio/status"
    )
    assert parse_qs(callback.query) == {
        "key": [f"{sent.notification_id}:2"],  # a page's resend keeps its own key
        "provider": ["primary"],
    }


async def test_an_api_key_and_a_messaging_service_when_configured(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    sent = message()
    chosen = provider(
        twilio,
        client,
        TWILIO_FROM="",
        TWILIO_MESSAGING_SERVICE_SID="MG0000000000000000000000000000000a",
        TWILIO_API_KEY_SID="SK0000000000000000000000000000000b",
        TWILIO_API_KEY_SECRET="key-secret",  # noqa: S106 (a test credential)
    )

    assert (await chosen.send(sent)).kind is SENT

    [posted] = twilio.to(e164(sent.to))
    assert posted.form["MessagingServiceSid"] == "MG0000000000000000000000000000000a"
    assert "From" not in posted.form
    assert (
        posted.authorization
        == "Basic " + base64.b64encode(b"SK0000000000000000000000000000000b:key-secret").decode()
    )
    assert f"/Accounts/{ACCOUNT_SID}/" in posted.path  # the account's, not the key's


@pytest.mark.parametrize(
    ("status", "code", "kind", "error"),
    [
        (400, 21211, PERMANENT, "twilio_21211"),  # not a valid phone number
        (400, 21614, PERMANENT, "twilio_21614"),  # not a mobile number
        (400, 21610, PERMANENT, "sms_opted_out"),  # texted STOP to Twilio
        (400, 21611, TRANSIENT, "twilio_21611"),  # the sender's queue is full: passes
        (429, 20429, TRANSIENT, "http_429"),
        (500, 20500, TRANSIENT, "http_500"),
        (401, 20003, TRANSIENT, "http_401"),  # our credential: the existing refused path
        (404, 20404, PERMANENT, "twilio_20404"),
    ],
)
async def test_twilios_refusals_map_onto_ours(
    twilio: FakeTwilio,
    client: httpx.AsyncClient,
    status: int,
    code: int,
    kind: AttemptOutcome,
    error: str,
) -> None:
    sent = message()
    twilio.answer(e164(sent.to), Scripted(status=status, code=code))

    outcome = await provider(twilio, client).send(sent)

    assert (outcome.kind, outcome.error_code) == (kind, error)


async def test_a_refused_credential_is_counted_as_the_webhook_providers_are(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    labels = {"channel": "sms", "provider": "primary"}
    before = REGISTRY.get_sample_value("notify_provider_auth_rejections_total", labels) or 0.0
    sent = message()
    twilio.answer(e164(sent.to), Scripted(status=401, code=20003))

    await provider(twilio, client).send(sent)

    after = REGISTRY.get_sample_value("notify_provider_auth_rejections_total", labels)
    assert after == before + 1


async def test_after_a_timeout_it_asks_twilio_before_sending_again(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    sent = message()
    twilio.answer(e164(sent.to), Scripted(delay=1.0))  # took it, answered too late
    chosen = TimeCapped(provider(twilio, client), 0.3)  # as the page lane caps a send

    first = await chosen.send(sent)
    again = await chosen.send(sent)

    assert (first.kind, first.error_code) == (TRANSIENT, "provider_timeout")
    assert again.kind is SENT
    assert len(twilio.to(e164(sent.to))) == 1  # one text, not two
    assert [g["To"] for g in twilio.gets if g["To"] == e164(sent.to)] == [e164(sent.to)]


async def test_when_twilio_did_not_take_it_the_retry_sends(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    sent = message()
    twilio.answer(e164(sent.to), Scripted(status=503, code=20500, record=False))
    chosen = provider(twilio, client)

    first = await chosen.send(sent)
    again = await chosen.send(sent)

    assert (first.kind, again.kind) == (TRANSIENT, SENT)
    assert len(twilio.to(e164(sent.to))) == 2
    assert any(g["To"] == e164(sent.to) for g in twilio.gets)  # it looked first


async def test_a_send_that_never_reached_twilio_is_sent_again_without_asking(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    sent = message()
    unreachable = provider(twilio, client, TWILIO_API_URL="http://127.0.0.1:9")
    assert (await unreachable.send(sent)).error_code == "http_unreachable"

    # The same provider object, the next attempt: nothing to look up.
    unreachable._messages = unreachable._messages.replace("http://127.0.0.1:9", twilio.url)
    assert (await unreachable.send(sent)).kind is SENT
    assert not any(g["To"] == e164(sent.to) for g in twilio.gets)


def test_the_settings_say_what_twilio_lacks(twilio: FakeTwilio) -> None:
    with pytest.raises(ValueError, match="TWILIO_ACCOUNT_SID"):
        settings(twilio, TWILIO_ACCOUNT_SID="")
    with pytest.raises(ValueError, match="TWILIO_FROM and TWILIO_MESSAGING_SERVICE_SID"):
        settings(twilio, TWILIO_MESSAGING_SERVICE_SID="MG1")
    with pytest.raises(ValueError, match="TWILIO_WEBHOOK_BASE_URL"):
        settings(twilio, TWILIO_WEBHOOK_BASE_URL="")
    with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN"):
        settings(twilio, TWILIO_AUTH_TOKEN="")
    with pytest.raises(ValueError, match="TWILIO_API_KEY_SID and its secret"):
        settings(twilio, TWILIO_API_KEY_SID="SK1")
    with pytest.raises(ValueError, match="both twilio"):
        settings(twilio, SMS_FALLBACK_PROVIDER="twilio")


def test_the_credentials_never_show(twilio: FakeTwilio) -> None:
    shown = repr(settings(twilio, TWILIO_API_KEY_SID="SK1", TWILIO_API_KEY_SECRET=KEY_SECRET))
    assert AUTH_TOKEN not in shown
    assert KEY_SECRET not in shown


async def test_the_lanes_send_sms_through_twilio_only_when_chosen(twilio: FakeTwilio) -> None:
    runtime = cast(Runtime, SimpleNamespace(clock=ControllableClock()))
    async with httpx.AsyncClient() as c:
        chosen = providers(settings(twilio), c, runtime)
        plain = providers(NotifySettings(), c, runtime)
        second = providers(
            settings(twilio, SMS_PROVIDER="webhook", SMS_FALLBACK_PROVIDER="twilio"), c, runtime
        )
    assert isinstance(chosen[NotificationChannel.SMS], TwilioProvider)
    assert not isinstance(plain[NotificationChannel.SMS], TwilioProvider)
    assert not isinstance(chosen[NotificationChannel.MESSAGING], TwilioProvider)
    fallback = second[NotificationChannel.SMS]
    assert isinstance(fallback, FailoverProvider)
    assert isinstance(fallback._fallback, TwilioProvider)
    assert fallback._fallback.callback_url("k").endswith("provider=fallback")


def lookups(channel: str, result: str) -> float:
    labels = {"channel": channel, "result": result}
    return REGISTRY.get_sample_value("notify_twilio_lookups_total", labels) or 0.0


def call_provider_of(twilio: FakeTwilio, client: httpx.AsyncClient) -> TwilioCallProvider:
    chosen = settings(twilio, PAGE_CALLS="true", PAGE_CALL_URL="https://crisis.center.example")
    return call_provider(chosen, client)


def page_call() -> OutgoingMessage:
    return OutgoingMessage(
        notification_id=uuid4(),
        channel=NotificationChannel.VOICE,
        to=f"+33 7 {uuid4().int % 10**8:08d}",
        subject="",
        body="",
        language="en",
        page_code="1A2B3C",
    )


async def test_after_a_timeout_a_call_is_looked_up_and_does_not_ring_again(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    called = page_call()
    twilio.answer_calls(e164(called.to), Scripted(delay=1.0))  # placed, answered too late
    chosen = TimeCapped(call_provider_of(twilio, client), 0.3)
    found = lookups("voice", "found")

    first = await chosen.send(called)
    again = await chosen.send(called)

    assert (first.kind, first.error_code) == (TRANSIENT, "provider_timeout")
    assert again.kind is SENT
    assert len(twilio.calls_to(e164(called.to))) == 1
    [asked] = twilio.lists_for(e164(called.to), calls=True)
    assert asked["From"] == "+15005550006"
    assert lookups("voice", "found") == found + 1


async def test_a_call_twilio_did_not_place_is_placed_on_the_retry(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    called = page_call()
    twilio.answer_calls(e164(called.to), Scripted(status=503, code=20500, record=False))
    chosen = call_provider_of(twilio, client)

    assert (await chosen.send(called)).kind is TRANSIENT
    assert (await chosen.send(called)).kind is SENT

    assert len(twilio.calls_to(e164(called.to))) == 2
    assert len(twilio.lists_for(e164(called.to), calls=True)) == 1  # it looked first


@pytest.mark.parametrize("channel", ["sms", "voice"])
async def test_when_the_lookup_fails_it_sends_again_and_counts_it(
    twilio: FakeTwilio, client: httpx.AsyncClient, channel: str
) -> None:
    """A double text or a second call is the better failure for a page than none."""
    sent = message() if channel == "sms" else page_call()
    number = e164(sent.to)
    if channel == "sms":
        twilio.answer(number, Scripted(delay=1.0))
        chosen = TimeCapped(provider(twilio, client), 0.3)
    else:
        twilio.answer_calls(number, Scripted(delay=1.0))
        chosen = TimeCapped(call_provider_of(twilio, client), 0.3)
    failed = lookups(channel, "failed")

    assert (await chosen.send(sent)).error_code == "provider_timeout"
    twilio.fail_lists(1)
    assert (await chosen.send(sent)).kind is SENT

    posted = twilio.to(number) if channel == "sms" else twilio.calls_to(number)
    assert len(posted) == 2
    assert len(twilio.lists_for(number, calls=channel == "voice")) == 1
    assert lookups(channel, "failed") == failed + 1


async def test_a_retry_to_another_number_is_sent_without_a_lookup(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    """The number changed between attempts (the client's contact): the new one never had it."""
    sent = message()
    twilio.answer(e164(sent.to), Scripted(delay=1.0))
    chosen = TimeCapped(provider(twilio, client), 0.3)
    assert (await chosen.send(sent)).error_code == "provider_timeout"

    moved = replace(sent, to=f"+33 6 {uuid4().int % 10**8:08d}")
    assert (await chosen.send(moved)).kind is SENT

    assert len(twilio.to(e164(moved.to))) == 1
    assert twilio.lists_for(e164(moved.to)) == twilio.lists_for(e164(sent.to)) == []


class Unanswering:
    """A pool whose database does not answer."""

    async def fetchrow(self, *args: object) -> None:
        raise ConnectionRefusedError("database down")

    async def execute(self, *args: object) -> None:
        raise ConnectionRefusedError("database down")


async def test_a_send_the_database_cannot_record_still_goes(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    """A page must not wait for the record of its send: a double text beats a missed page."""
    sent = message()
    chosen = twilio_provider(
        settings(twilio),
        client,
        role="primary",
        outcomes=UnknownOutcomes(cast(Any, Unanswering()), ["k"]),
    )

    assert (await chosen.send(sent)).kind is SENT
    assert len(twilio.to(e164(sent.to))) == 1
