"""notify's settings from the environment."""

from datetime import timedelta

import pytest

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
