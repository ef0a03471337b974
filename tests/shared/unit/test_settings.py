"""Settings come from the environment, under the names the README and CONTRACT.md give."""

import pytest
from pydantic import Field, ValidationError

from counseling_shared.settings import ServiceSettings


class BookingLikeSettings(ServiceSettings):
    port: int = Field(8001, alias="BOOKING_PORT")


_ENV = {
    "NATS_URL": "nats://nats.example:4222",
    "DATABASE_URL": "postgresql://booking@db.example:5432/booking",
    "DATABASE_SCHEMA": "booking",
    "HOST": "0.0.0.0",  # noqa: S104 - a value under test, not a bind
    "API_KEYS": "dev-admin-key,site-key=6f1c0d2e-0000-4000-8000-000000000001",
    "LOG_LEVEL": "DEBUG",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.example:4318",
    "STREAM_REPLICAS": "3",
    "DB_POOL_MAX": "25",
    "BOOKING_PORT": "18001",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_every_setting_is_read_from_its_environment_variable(
    clean_env: pytest.MonkeyPatch,
) -> None:
    for name, value in _ENV.items():
        clean_env.setenv(name, value)

    settings = BookingLikeSettings()

    assert settings.nats_url == _ENV["NATS_URL"]
    assert settings.database_url == _ENV["DATABASE_URL"]
    assert settings.database_schema == "booking"
    assert settings.host == "0.0.0.0"  # noqa: S104
    assert settings.api_keys == _ENV["API_KEYS"]
    assert settings.log_level == "DEBUG"
    assert settings.otel_exporter_otlp_endpoint == _ENV["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert settings.stream_replicas == 3
    assert settings.db_pool_max == 25
    assert settings.port == 18001


def test_defaults_apply_when_the_environment_is_silent(clean_env: pytest.MonkeyPatch) -> None:
    settings = BookingLikeSettings()

    assert settings.port == 8001
    assert settings.database_schema is None
    assert settings.otel_exporter_otlp_endpoint is None
    assert settings.log_level == "INFO"


def test_the_port_alias_belongs_to_the_subclass(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BOOKING_PORT", "18001")

    assert BookingLikeSettings().port == 18001
    assert ServiceSettings().port == 8000


def test_a_schema_that_is_not_a_plain_identifier_is_refused(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("DATABASE_SCHEMA", 'booking"; DROP TABLE events; --')

    with pytest.raises(ValidationError):
        BookingLikeSettings()
