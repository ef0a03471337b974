"""`make run` gives notify and crisis a known `INBOUND_SMS_SECRET`, printed in the README, so
that texts back can be tried by hand; they take it only in a development stack, as they take
`dev-admin-key`."""

import pytest

from counseling_shared.settings import DEV_INBOUND_SMS_SECRET
from crisis.settings import CrisisSettings
from devstack.environment import common_env
from notify.settings import NotifySettings

SECRET = "INBOUND_SMS_SECRET"  # noqa: S105 - the variable's name
PORTS = {"booking": 8001, "followup": 8002, "notify": 8003, "crisis": 8004}


def _common(base: dict[str, str]) -> dict[str, str]:
    return common_env(base, nats_url="nats://127.0.0.1:4222", ports=PORTS, sinks={})


def test_make_run_gives_the_documented_secret_unless_one_is_given() -> None:
    # Without it notify's reminders by text never asked for C or X in the dev stack, and
    # neither `POST /inbound/sms` (notify's C/X and STOP, crisis's ACK) could be tried (503).
    assert _common({})[SECRET] == DEV_INBOUND_SMS_SECRET == "dev-inbound-sms-secret"
    assert _common({})["DEVELOPMENT_MODE"] == "true"
    assert _common({SECRET: "mine"})[SECRET] == "mine"
    assert _common({SECRET: ""})[SECRET] == ""  # replies switched off


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
