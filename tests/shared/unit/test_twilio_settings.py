"""The Twilio settings notify and crisis share, read from the environment: the auth token from
its variable or its file (never shown), and what `SMS_PROVIDER=twilio` refuses to start
without."""

from pathlib import Path

import pytest

from crisis.settings import CrisisSettings
from notify.settings import NotifySettings

TOKEN = "tw-auth-t0ken"  # noqa: S105 (a test credential)
NOTIFY_TWILIO = {
    "SMS_PROVIDER": "twilio",
    "TWILIO_ACCOUNT_SID": "AC1",
    "TWILIO_FROM": "+15005550006",
    "TWILIO_WEBHOOK_BASE_URL": "https://sms.center.example",
}


@pytest.mark.parametrize("settings", [NotifySettings, CrisisSettings])
def test_the_token_comes_from_the_env_or_a_file_and_never_shows(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    settings: type[NotifySettings] | type[CrisisSettings],
) -> None:
    for name, value in NOTIFY_TWILIO.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    from_env = settings()
    assert from_env.twilio_token() == TOKEN
    assert TOKEN not in repr(from_env)

    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "")  # empty is unset
    (tmp_path / "token").write_text(TOKEN + "\n")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN_FILE", str(tmp_path / "token"))
    assert settings().twilio_token() == TOKEN


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({}, "TWILIO_AUTH_TOKEN"),
        ({"TWILIO_AUTH_TOKEN": "t", "TWILIO_WEBHOOK_BASE_URL": ""}, "TWILIO_WEBHOOK_BASE_URL"),
        ({"TWILIO_AUTH_TOKEN": "t", "TWILIO_AUTH_TOKEN_FILE": "/x"}, "not both"),
        ({"TWILIO_AUTH_TOKEN_FILE": "/nonexistent/token"}, "No such file"),
        # The console's whole webhook URL instead of the base: every signature would fail.
        (
            {
                "TWILIO_AUTH_TOKEN": "t",
                "TWILIO_WEBHOOK_BASE_URL": "https://c.example/inbound/sms/twilio",
            },
            "TWILIO_WEBHOOK_BASE_URL is the service's public base URL, without /inbound/sms",
        ),
    ],
)
def test_crisis_with_twilio_refuses_to_start_without_what_it_needs(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], problem: str
) -> None:
    monkeypatch.setenv("SMS_PROVIDER", "twilio")
    monkeypatch.setenv("TWILIO_WEBHOOK_BASE_URL", "https://sms.center.example")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=problem):
        CrisisSettings()


def test_without_twilio_nothing_of_it_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SMS_PROVIDER", "TWILIO_AUTH_TOKEN", "TWILIO_WEBHOOK_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert CrisisSettings().sms_provider == "webhook"
    notify = NotifySettings()
    assert (notify.sms_provider, notify.uses_twilio) == ("webhook", False)
    assert notify.fallback_channels() == frozenset()


def test_notify_refuses_twilio_s_whole_webhook_url_as_its_base(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = NOTIFY_TWILIO | {"TWILIO_AUTH_TOKEN": TOKEN}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert NotifySettings().twilio_webhook_base_url == "https://sms.center.example"
    monkeypatch.setenv("TWILIO_WEBHOOK_BASE_URL", "https://sms.center.example/notify/")
    assert NotifySettings().twilio_webhook_base_url == "https://sms.center.example/notify/"
    for wrong in ("https://sms.center.example/inbound/sms/twilio", "https://s.example/?x=1"):
        monkeypatch.setenv("TWILIO_WEBHOOK_BASE_URL", wrong)
        with pytest.raises(ValueError, match="TWILIO_WEBHOOK_BASE_URL is the service's public"):
            NotifySettings()
