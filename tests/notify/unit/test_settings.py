"""notify's settings from the environment."""

from datetime import timedelta
from pathlib import Path

import pytest

from notify.adapters.provider_auth import ProviderAuth
from notify.bootstrap import listening_poll_of
from notify.domain.codes import Lane
from notify.settings import NotifySettings


def test_defaults_follow_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOTIFY_PORT", "NOTIFY_MAX_ATTEMPTS", "NOTIFY_RETRY_BASE"):
        monkeypatch.delenv(name, raising=False)
    settings = NotifySettings()
    assert settings.port == 8003
    assert settings.bulk_retry().max_attempts == 6
    assert settings.crisis_retry().base < settings.bulk_retry().base


def test_durations_are_read_as_iso8601_or_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_PORT", "9003")
    monkeypatch.setenv("NOTIFY_RETRY_BASE", "PT2S")
    monkeypatch.setenv("NOTIFY_CRISIS_RETRY_BASE", "0.25")
    monkeypatch.setenv("NOTIFY_CLAIM_LEASE", "90")
    monkeypatch.setenv("SMTP_STARTTLS", "true")
    settings = NotifySettings()
    assert settings.port == 9003
    assert settings.retry_base == timedelta(seconds=2)
    assert settings.crisis_retry_base == timedelta(milliseconds=250)
    assert settings.claim_lease == timedelta(seconds=90)
    assert settings.smtp_starttls is True


def test_page_lanes_keep_the_short_look_while_listening_and_bulk_takes_the_long_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("NOTIFY_IDLE_POLL", "LISTENING_POLL"):
        monkeypatch.delenv(name, raising=False)
    settings = NotifySettings()
    assert listening_poll_of(Lane.CRISIS, settings) == 1.0
    assert listening_poll_of(Lane.BULK, settings) == 10.0

    monkeypatch.setenv("LISTENING_POLL", "0.5")  # shorter than the idle poll: taken as given
    assert listening_poll_of(Lane.CRISIS, NotifySettings()) == 0.5


def test_a_provider_credential_comes_from_the_env_or_a_file_and_never_shows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "messaging-auth"
    secret.write_text("Bearer from-a-file\n")
    monkeypatch.setenv("SMS_WEBHOOK_AUTH", "Basic ZnJvbS1lbnY=")
    monkeypatch.setenv("SMS_FALLBACK_WEBHOOK_AUTH", "")  # empty is unset
    monkeypatch.setenv("MESSAGING_WEBHOOK_AUTH_FILE", str(secret))
    monkeypatch.setenv("MESSAGING_WEBHOOK_AUTH_HEADER", "X-Api-Key")
    settings = NotifySettings()
    assert settings.provider_auth("sms") == ProviderAuth("Authorization", "Basic ZnJvbS1lbnY=")
    assert settings.provider_auth("sms_fallback") is None
    assert settings.provider_auth("messaging") == ProviderAuth("X-Api-Key", "Bearer from-a-file")
    shown = repr(settings) + repr(settings.provider_auth("sms"))
    assert "ZnJvbS1lbnY" not in shown


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"SMS_WEBHOOK_AUTH": "a", "SMS_WEBHOOK_AUTH_FILE": "/x"}, "not both"),
        ({"SMS_WEBHOOK_AUTH": "a", "SMS_WEBHOOK_AUTH_HEADER": "X Key"}, "header name"),
        ({"SMS_WEBHOOK_AUTH": "Bearer a\r\nX-Injected: 1"}, "line break"),
        ({"MESSAGING_WEBHOOK_AUTH_FILE": "/nonexistent/secret"}, "No such file"),
    ],
)
def test_a_provider_credential_that_cannot_work_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], problem: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(Exception, match=problem):
        NotifySettings()
