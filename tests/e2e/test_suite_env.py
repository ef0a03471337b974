"""The e2e suite's settings are ones the services read (a misspelt name is silently ignored)."""

from notify.settings import NotifySettings
from tests.e2e.conftest import SUITE_ENV


def test_every_e2e_setting_is_read_by_a_service() -> None:
    aliases = {field.alias for field in NotifySettings.model_fields.values()}
    assert set(SUITE_ENV) <= aliases


def test_e2e_notify_retries_wait_a_fraction_of_a_second() -> None:
    settings = NotifySettings.model_validate(SUITE_ENV)
    assert settings.bulk_retry().base.total_seconds() < 1
    assert settings.crisis_retry().base.total_seconds() < 1
