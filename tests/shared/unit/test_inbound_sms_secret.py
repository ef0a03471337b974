"""`make run`'s `INBOUND_SMS_SECRET` is printed in the README: notify and crisis take it only in
a development stack, as they take `dev-admin-key`."""

import pytest

from counseling_shared.settings import DEV_INBOUND_SMS_SECRET
from crisis.settings import CrisisSettings
from notify.settings import NotifySettings

SECRET = "INBOUND_SMS_SECRET"  # noqa: S105 - the variable's name


@pytest.mark.parametrize("settings", [NotifySettings, CrisisSettings])
def test_the_development_secret_is_refused_outside_development_mode(
    monkeypatch: pytest.MonkeyPatch, settings: type[NotifySettings] | type[CrisisSettings]
) -> None:
    monkeypatch.setenv(SECRET, DEV_INBOUND_SMS_SECRET)
    monkeypatch.setenv("DEVELOPMENT_MODE", "true")
    assert settings().inbound_sms_secret.get_secret_value() == DEV_INBOUND_SMS_SECRET

    monkeypatch.setenv("DEVELOPMENT_MODE", "false")
    with pytest.raises(ValueError, match="INBOUND_SMS_SECRET is the development stack's"):
        settings()

    monkeypatch.setenv(SECRET, "a-long-random-value-of-the-center")
    assert settings().inbound_sms_secret.get_secret_value() != DEV_INBOUND_SMS_SECRET
