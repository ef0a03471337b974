"""`PAGE_CALLS` is off by default and starts only with what a call needs: Twilio as an SMS
provider, a caller number (`TWILIO_FROM`) and crisis's public URL (`PAGE_CALL_URL`)."""

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from notify.settings import NotifySettings

TWILIO: dict[str, Any] = {
    "SMS_PROVIDER": "twilio",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "token",
    "TWILIO_WEBHOOK_BASE_URL": "https://sms.center.example",
    "TWILIO_FROM": "+15005550006",
}


def test_calls_are_off_by_default() -> None:
    assert NotifySettings().page_calls is False
    assert NotifySettings(**TWILIO).page_calls is False


def test_calls_start_with_twilio_a_caller_and_crisis_url() -> None:
    settings = NotifySettings(
        **TWILIO, PAGE_CALLS="true", PAGE_CALL_URL="https://crisis.center.example"
    )
    assert settings.page_calls is True


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"PAGE_CALL_URL": "https://crisis.center.example"}, "SMS_PROVIDER"),
        ({**TWILIO}, "PAGE_CALL_URL"),
        (
            {
                **{k: v for k, v in TWILIO.items() if k != "TWILIO_FROM"},
                "TWILIO_MESSAGING_SERVICE_SID": "MG" + "0" * 32,
                "PAGE_CALL_URL": "https://crisis.center.example",
            },
            "TWILIO_FROM",
        ),
    ],
)
def test_calls_refuse_to_start_without_what_they_need(values: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        NotifySettings(**values, PAGE_CALLS="true")


def test_the_call_delay_is_none_by_default_and_an_iso_duration() -> None:
    assert NotifySettings().page_call_delay == timedelta(0)
    assert NotifySettings(PAGE_CALL_DELAY="PT2M").page_call_delay == timedelta(minutes=2)
    assert NotifySettings(PAGE_CALL_DELAY="PT30M").page_call_delay == timedelta(minutes=30)


@pytest.mark.parametrize("delay", ["-PT1S", "PT30M1S", "PT1H"])
def test_a_negative_or_longer_than_half_an_hour_call_delay_is_refused(delay: str) -> None:
    with pytest.raises(ValidationError, match="PAGE_CALL_DELAY"):
        NotifySettings(PAGE_CALL_DELAY=delay)
