"""notify's WhatsApp sender against a fake Twilio (tests/fake_twilio.py; the real one is never
called): an approved template with its variables instead of a body, from and to `whatsapp:`
addresses; a message without a mapping or without its variables' values is refused for good
without calling Twilio, and counted; a send whose answer never came is looked for before it
goes again."""

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client import REGISTRY

from counseling_shared.codes import NotificationChannel
from notify.adapters.time_capped import TimeCapped
from notify.adapters.twilio_whatsapp import TwilioWhatsAppProvider
from notify.application.ports import MessageSource, OutgoingMessage
from notify.bootstrap import whatsapp_provider
from notify.domain.codes import AttemptOutcome
from notify.domain.locales import MessageLocale
from notify.settings import NotifySettings
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, Scripted

PUBLIC = "https://sms.center.example/notify"
BOOKED_EN, BOOKED_FR = "HX" + "0" * 31 + "1", "HX" + "0" * 31 + "2"
CHECKIN_LINK, CHECKIN = "HX" + "0" * 31 + "3", "HX" + "0" * 31 + "4"
CONTENT = {
    "appointment_booked": {
        "en": {"content_sid": BOOKED_EN, "variables": ["common.site(site_name)", "day(start)"]},
        "fr": {
            "content_sid": BOOKED_FR,
            "variables": {"site": "common.site(site_name)", "when": "hour(start)"},
        },
    },
    "followup_due_checkin": {
        "en": [
            {"content_sid": CHECKIN_LINK, "variables": ["common.site(site_name)", "response_url"]},
            {"content_sid": CHECKIN, "variables": ["common.site(site_name)"]},
        ]
    },
    "followup_due_satisfaction": {
        "en": {"content_sid": CHECKIN, "variables": ["response_url"]},
    },
}
START = datetime(2026, 3, 12, 13, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2.0) as c:
        yield c


def provider(twilio: FakeTwilio, client: httpx.AsyncClient, **more: str) -> Any:
    values = {
        "MESSAGING_PROVIDER": "twilio",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": "+15005550007",
        "TWILIO_WHATSAPP_CONTENT": json.dumps(CONTENT),
        "TWILIO_WEBHOOK_BASE_URL": PUBLIC,
        "TWILIO_API_URL": twilio.url,
        **more,
    }
    made: TwilioWhatsAppProvider = whatsapp_provider(
        NotifySettings(**values),  # type: ignore[arg-type]
        client,
    )
    return made


def message(template: str = "appointment_booked", language: str = "en", **params: Any) -> Any:
    values = {"site_name": "Riverside", "start": START.isoformat(), **params}
    return OutgoingMessage(
        notification_id=uuid4(),
        channel=NotificationChannel.MESSAGING,
        to=f"+33 6 {uuid4().int % 10**8:08d}",  # as booking keeps it
        subject="",
        body="Riverside: your appointment … is confirmed.",
        language=language,
        source=MessageSource(
            template, values, MessageLocale(language, language), ZoneInfo("Europe/Paris")
        ),
    )


def e164(number: str) -> str:
    return number.replace(" ", "")


def unsendable(template: str, language: str, reason: str) -> float:
    labels = {"template": template, "language": language, "reason": reason}
    return REGISTRY.get_sample_value("notify_whatsapp_unsendable_total", labels) or 0.0


async def test_it_sends_the_approved_template_with_its_variables_by_whatsapp(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    sent = message()

    outcome = await provider(twilio, client).send(sent)

    assert outcome.kind is AttemptOutcome.SENT
    [posted] = twilio.whatsapp_to(e164(sent.to))
    assert posted.form["From"] == "whatsapp:+15005550007"
    assert posted.content_sid == BOOKED_EN
    assert posted.content_variables == {"1": "Riverside", "2": "Thursday, March 12, 2026"}
    assert "Body" not in posted.form
    assert posted.form["StatusCallback"].startswith(PUBLIC + "/inbound/sms/twilio/status?key=")
    assert str(sent.notification_id) in posted.form["StatusCallback"]


async def test_named_variables_and_a_messaging_service(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    sent = message(language="fr")
    chosen = provider(
        twilio,
        client,
        TWILIO_WHATSAPP_FROM="",
        TWILIO_WHATSAPP_MESSAGING_SERVICE_SID="MG" + "0" * 31 + "a",
    )

    assert (await chosen.send(sent)).kind is AttemptOutcome.SENT

    [posted] = twilio.whatsapp_to(e164(sent.to))
    assert posted.form["MessagingServiceSid"] == "MG" + "0" * 31 + "a"
    assert "From" not in posted.form
    assert (posted.content_sid, posted.content_variables) == (
        BOOKED_FR,
        {"site": "Riverside", "when": "14:30"},
    )


async def test_a_template_or_language_without_a_mapping_is_refused_for_good_and_counted(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    before = unsendable("appointment_booked", "ko", "whatsapp_template_unmapped")
    sent = message(language="ko")
    other = message(template="appointment_cancelled")

    outcome = await provider(twilio, client).send(sent)
    unmapped = await provider(twilio, client).send(other)

    assert (outcome.kind, outcome.error_code) == (
        AttemptOutcome.PERMANENT_FAILURE,
        "whatsapp_template_unmapped",
    )
    assert unmapped.error_code == "whatsapp_template_unmapped"
    assert twilio.whatsapp_to(e164(sent.to)) == []
    assert twilio.whatsapp_to(e164(other.to)) == []
    after = unsendable("appointment_booked", "ko", "whatsapp_template_unmapped")
    assert after == before + 1


async def test_the_first_entry_whose_variables_all_have_a_value_goes(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    with_link = message("followup_due_checkin", response_url="https://f.example/a?t=1")
    without = message("followup_due_checkin", response_url=None)

    for sent in (with_link, without):
        assert (await provider(twilio, client).send(sent)).kind is AttemptOutcome.SENT

    [linked] = twilio.whatsapp_to(e164(with_link.to))
    [bare] = twilio.whatsapp_to(e164(without.to))
    assert (linked.content_sid, linked.content_variables["2"]) == (
        CHECKIN_LINK,
        "https://f.example/a?t=1",
    )
    assert (bare.content_sid, bare.content_variables) == (CHECKIN, {"1": "Riverside"})


async def test_a_message_missing_every_entrys_value_is_refused_and_counted(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    before = unsendable("followup_due_satisfaction", "en", "whatsapp_variable_missing")
    sent = message("followup_due_satisfaction", response_url="")

    outcome = await provider(twilio, client).send(sent)

    assert (outcome.kind, outcome.error_code) == (
        AttemptOutcome.PERMANENT_FAILURE,
        "whatsapp_variable_missing",
    )
    assert twilio.whatsapp_to(e164(sent.to)) == []
    after = unsendable("followup_due_satisfaction", "en", "whatsapp_variable_missing")
    assert after == before + 1


async def test_after_a_timeout_it_asks_twilio_before_sending_again(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    sent = message()
    to = "whatsapp:" + e164(sent.to)
    twilio.answer(to, Scripted(delay=1.0))  # took it, answered too late
    chosen = TimeCapped(provider(twilio, client), 0.3)

    first = await chosen.send(sent)
    again = await chosen.send(sent)

    assert (first.kind, first.error_code) == (AttemptOutcome.TRANSIENT_FAILURE, "provider_timeout")
    assert again.kind is AttemptOutcome.SENT
    assert len(twilio.whatsapp_to(e164(sent.to))) == 1  # one message, not two
    [looked] = twilio.lists_for(to)
    assert looked["From"] == "whatsapp:+15005550007"


async def test_when_twilio_did_not_take_it_the_retry_sends(
    twilio: FakeTwilio, client: httpx.AsyncClient
) -> None:
    sent = message()
    to = "whatsapp:" + e164(sent.to)
    twilio.answer(to, Scripted(delay=1.0, record=False))
    chosen = TimeCapped(provider(twilio, client), 0.3)

    await chosen.send(sent)
    again = await chosen.send(sent)

    assert again.kind is AttemptOutcome.SENT
    assert len(twilio.whatsapp_to(e164(sent.to))) == 2


@pytest.mark.parametrize(
    ("code", "error"),
    [(63003, "twilio_63003"), (63016, "twilio_63016"), (21610, "sms_opted_out")],
)
async def test_twilios_whatsapp_refusals_are_for_good(
    twilio: FakeTwilio, client: httpx.AsyncClient, code: int, error: str
) -> None:
    # 63003: the number is not on WhatsApp; 63016: outside the 24-hour window (not approved).
    sent = message()
    twilio.answer("whatsapp:" + e164(sent.to), Scripted(status=400, code=code))

    outcome = await provider(twilio, client).send(sent)

    assert (outcome.kind, outcome.error_code) == (AttemptOutcome.PERMANENT_FAILURE, error)
