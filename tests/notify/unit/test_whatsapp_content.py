"""`TWILIO_WHATSAPP_CONTENT`: the mapping of our message templates to approved WhatsApp
templates is checked at start, one line naming what is wrong; the example shipped in
deploy/whatsapp carries every client message in every language, and each of its variables
computes from a message's parameters; `MESSAGING_PROVIDER=twilio` starts only with what it
needs, and the default (webhook) is untouched."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from counseling_shared.codes import NotificationChannel
from notify.adapters.templates import JinjaRenderer, template_names
from notify.adapters.twilio_whatsapp import without_prefix
from notify.adapters.whatsapp_content import load_content
from notify.application.handlers import PAGE_CHANNELS
from notify.domain.codes import Template
from notify.domain.locales import WRITTEN_LANGUAGES, MessageLocale
from notify.domain.whatsapp_content import parse_content, variable_value
from notify.settings import NotifySettings

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "whatsapp" / "content.example.json"
SID = "HX" + "0" * 31 + "1"
STAFF_TEMPLATES = {
    Template.CRISIS_PAGE.value,
    Template.CONTACT_GAP.value,
    Template.NEGATIVE_CONTACT.value,
    Template.CALLBACK_REQUESTED.value,
    Template.ELEVATED_SCORE.value,
    Template.SHIFT_SWAP_REQUESTED.value,
    Template.SHIFT_SWAP_TAKEN.value,
    Template.SHIFT_SWAP_ON_CALL.value,
    Template.SHIFT_SWAP_CANCELLED.value,
    Template.SHIFT_SWAP_EXPIRED.value,
}
START = datetime(2026, 3, 12, 13, 30, tzinfo=UTC)
PARAMS: dict[str, Any] = {
    "site_name": "Riverside",
    "start": START.isoformat(),
    "end": (START + timedelta(minutes=50)).isoformat(),
    "first_start": START.isoformat(),
    "last_start": (START + timedelta(weeks=5)).isoformat(),
    "appointment_start": START.isoformat(),
    "expires_at": (START - timedelta(hours=2)).isoformat(),
    "count": 6,
    "fee_amount": "40.00",
    "fee_currency": "EUR",
    "accept_url": "https://booking.example/offers/1/accept?t=x",
    "manage_url": "https://booking.example/appointments/1/manage?t=x",
    "response_url": "https://followup.example/answers/1?t=x",
}


def one(entry: Any) -> dict[str, Any]:
    return {"appointment_booked": {"en": entry}}


def good(**more: Any) -> dict[str, Any]:
    return {"content_sid": SID, "variables": ["day(start)"], **more}


def test_the_example_maps_every_client_message_in_every_language() -> None:
    content = load_content(str(EXAMPLE))

    client_templates = template_names() - STAFF_TEMPLATES
    mapped = {(t, lang) for t, lang in content.entries}
    assert mapped == {(t, lang) for t in client_templates for lang in WRITTEN_LANGUAGES}


@pytest.mark.parametrize("language", WRITTEN_LANGUAGES)
def test_every_variable_of_the_example_computes_from_a_messages_parameters(
    language: str,
) -> None:
    renderer = JinjaRenderer()
    content = load_content(str(EXAMPLE))
    locale, zone = MessageLocale(language, language), ZoneInfo("Europe/Paris")
    for (template, lang), candidates in content.entries.items():
        if lang != language:
            continue
        first = [e for _, e in candidates[0].variables]
        values = [variable_value(v) for v in renderer.evaluate(first, PARAMS, locale, zone)]
        assert all(values), (template, values)
        # The last candidate needs no link: a message without one still goes.
        last = [e for _, e in candidates[-1].variables]
        bare = {k: v for k, v in PARAMS.items() if not k.endswith("_url")}
        values = [variable_value(v) for v in renderer.evaluate(last, bare, locale, zone)]
        assert all(values) or template == "waitlist_offer", (template, values)


def test_a_variable_is_written_as_the_message_would_be() -> None:
    renderer = JinjaRenderer()
    locale, zone = MessageLocale("fr", "fr"), ZoneInfo("Europe/Paris")

    values = renderer.evaluate(
        ["common.site(site_name)", "day(start)", "hour(start)"], PARAMS, locale, zone
    )

    assert values == ["Riverside", "jeudi 12 mars 2026", "14:30"]
    unnamed = renderer.evaluate(["common.site(site_name)"], {"site_name": None}, locale, zone)
    assert unnamed == ["votre centre de consultation"]


def test_a_missing_parameter_has_no_value() -> None:
    renderer = JinjaRenderer()
    locale, zone = MessageLocale("en", "en"), ZoneInfo("UTC")
    [link] = renderer.evaluate(["response_url"], {"response_url": None}, locale, zone)
    [absent] = renderer.evaluate(["manage_url"], {}, locale, zone)
    assert variable_value(link) is None
    assert variable_value(absent) is None


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ([], "non-empty JSON object"),
        ({}, "non-empty JSON object"),
        ({"crisis_page": {"en": good()}}, "crisis pages are never sent by WhatsApp"),
        ({"appointment_boked": {"en": good()}}, "appointment_boked: no such message template"),
        ({"appointment_booked": {}}, "appointment_booked: must be an object"),
        ({"appointment_booked": {"de": good()}}, "appointment_booked.de: language must be"),
        ({"appointment_booked": {"en": []}}, "appointment_booked.en: an empty list"),
        (one("HX1"), "appointment_booked.en: must be an object"),
        (one(good(content_sid="MG" + "0" * 32)), "appointment_booked.en.content_sid"),
        (one(good(content_sid="HX12")), "appointment_booked.en.content_sid"),
        (one(good(body="Hi")), "unknown field 'body'"),
        (one(good(variables="day(start)")), "appointment_booked.en.variables: a list"),
        (one(good(variables=[""])), "appointment_booked.en.variables.1: an expression"),
        (one(good(variables={"a b": "x"})), "'a b' is no Twilio variable key"),
        (one(good(variables=["x"] * 101)), "at most 100"),
        (one(good(text="On {{1}} at {{2}}.")), "its placeholders (1, 2) are not"),
        (one(good(text="  ")), "the approved text"),
        (
            {"appointment_booked": {"en": [good(), {"content_sid": "x"}]}},
            "appointment_booked.en[1].content_sid",
        ),
    ],
)
def test_a_wrong_mapping_is_refused_naming_where(data: Any, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        parse_content(data, template_names(), JinjaRenderer().check_expression)
    if isinstance(data, dict) and data:
        with pytest.raises(ValueError, match=r"^TWILIO_WHATSAPP_CONTENT: "):
            load_content(json.dumps(data))


def test_an_expression_that_does_not_compile_is_refused_at_start() -> None:
    data = one(good(variables=["day(start"]))
    with pytest.raises(ValueError, match=r"variables\.1: 'day\(start' is no template expression"):
        load_content(json.dumps(data))


def test_a_file_that_is_missing_or_not_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^TWILIO_WHATSAPP_CONTENT: cannot read"):
        load_content(str(tmp_path / "absent.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^TWILIO_WHATSAPP_CONTENT: not JSON"):
        load_content(str(broken))


def test_a_file_and_inline_json_read_the_same(tmp_path: Path) -> None:
    data = {
        "appointment_booked": {
            "fr": [good(variables={"1": "day(start)", "2": "hour(start)"}), good()],
        }
    }
    path = tmp_path / "content.json"
    path.write_text(json.dumps(data), encoding="utf-8")

    from_file, inline = load_content(str(path)), load_content(json.dumps(data))

    assert from_file == inline
    [with_two, with_one] = inline.candidates("appointment_booked", "fr")
    assert with_two.variables == (("1", "day(start)"), ("2", "hour(start)"))
    assert with_one.variables == (("1", "day(start)"),)
    assert inline.candidates("appointment_booked", "en") == ()


@given(st.text())
def test_a_value_is_one_line_without_runs_of_spaces(text: str) -> None:
    value = variable_value(text)
    if value is not None:
        assert value == value.strip()
        assert "\n" not in value
        assert "\t" not in value
        assert "  " not in value
    else:
        assert not text.split()


def test_parsing_is_pure_and_names_the_known_templates() -> None:
    with pytest.raises(ValueError, match=r"no such message template \(a, b\)"):
        parse_content({"c": {"en": good()}}, ["a", "b"])


def test_a_whatsapp_sender_is_the_number_twilio_names() -> None:
    assert without_prefix("whatsapp:+33612345678") == "+33612345678"
    assert without_prefix(" WhatsApp:+33612345678") == "+33612345678"
    assert without_prefix("+33612345678") == "+33612345678"


def test_pages_never_go_by_messaging() -> None:
    assert "messaging" not in {c.value for c in PAGE_CHANNELS}


# --- MESSAGING_PROVIDER=twilio at start --------------------------------------------------

WHATSAPP: dict[str, Any] = {
    "MESSAGING_PROVIDER": "twilio",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "token",
    "TWILIO_WEBHOOK_BASE_URL": "https://sms.center.example",
    "TWILIO_WHATSAPP_FROM": "+15005550006",
    "TWILIO_WHATSAPP_CONTENT": str(EXAMPLE),
}


def test_the_default_stays_the_messaging_webhook() -> None:
    settings = NotifySettings()
    assert settings.messaging_provider == "webhook"
    assert not settings.uses_twilio


def test_whatsapp_starts_with_its_sender_and_mapping() -> None:
    settings = NotifySettings(**WHATSAPP)

    assert settings.uses_twilio
    assert not settings.sms_uses_twilio
    assert settings.whatsapp_sender() == {"From": "whatsapp:+15005550006"}
    assert settings.whatsapp_content().candidates("appointment_booked", "ko")
    # WhatsApp replies reach Twilio's route; SMS replies (by the webhook, no secret) do not.
    assert settings.reply_channels() == {NotificationChannel.MESSAGING}
    assert not settings.takes_sms_replies
    service = {k: v for k, v in WHATSAPP.items() if k != "TWILIO_WHATSAPP_FROM"}
    pooled = NotifySettings(**service, TWILIO_WHATSAPP_MESSAGING_SERVICE_SID="MG" + "1" * 32)
    assert pooled.whatsapp_sender() == {"MessagingServiceSid": "MG" + "1" * 32}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"TWILIO_AUTH_TOKEN": ""}, "MESSAGING_PROVIDER=twilio needs TWILIO_AUTH_TOKEN"),
        ({"TWILIO_ACCOUNT_SID": ""}, "MESSAGING_PROVIDER=twilio needs TWILIO_ACCOUNT_SID"),
        ({"TWILIO_WEBHOOK_BASE_URL": ""}, "needs TWILIO_WEBHOOK_BASE_URL"),
        ({"TWILIO_WHATSAPP_FROM": ""}, "needs one of TWILIO_WHATSAPP_FROM and"),
        ({"TWILIO_WHATSAPP_MESSAGING_SERVICE_SID": "MG" + "1" * 32}, "needs one of"),
        ({"TWILIO_WHATSAPP_FROM": "whatsapp:+15005550006"}, "TWILIO_WHATSAPP_FROM: the"),
        ({"TWILIO_WHATSAPP_CONTENT": ""}, "needs TWILIO_WHATSAPP_CONTENT"),
        ({"TWILIO_WHATSAPP_CONTENT": "/nowhere.json"}, "TWILIO_WHATSAPP_CONTENT: cannot read"),
    ],
)
def test_whatsapp_refuses_to_start_without_what_it_needs(change: dict[str, str], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        NotifySettings(**{**WHATSAPP, **change})


def test_whatsapp_alone_does_not_ask_for_an_sms_sender_nor_allow_page_calls() -> None:
    # TWILIO_FROM is the SMS sender: not needed when only messaging goes by Twilio.
    assert NotifySettings(**WHATSAPP).twilio_from is None
    with pytest.raises(ValidationError, match="PAGE_CALLS needs Twilio as SMS_PROVIDER"):
        NotifySettings(**WHATSAPP, PAGE_CALLS="true", PAGE_CALL_URL="https://crisis.center.example")
