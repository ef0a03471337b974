"""Settings come from the environment, under the names the README and CONTRACT.md give."""

from datetime import timedelta

import pytest
from pydantic import Field, ValidationError

from counseling_shared.pruner import backbone_targets
from counseling_shared.settings import ServiceSettings, parse_gc_thresholds


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


_RELIABILITY_ENV = {
    "DB_STATEMENT_TIMEOUT": "20",
    "DB_LOCK_TIMEOUT": "2.5",
    "DB_IDLE_IN_TRANSACTION_TIMEOUT": "0",
    "HANDLER_TIMEOUT": "12",
    "OUTAGE_BACKOFF_MAX": "4",
    "PRUNE_INTERVAL": "60",
    "PRUNE_BATCH": "50",
    "PRUNE_INBOX_AFTER": "P120D",
    "PRUNE_OUTBOX_AFTER": "P3D",
    "PRUNE_IDEMPOTENCY_AFTER": "PT12H",
    "PRUNE_DEAD_LETTERS_AFTER": "P10D",
    "PRUNE_SETTLED_TIMERS_AFTER": "P5D",
    "PRUNE_ATTEMPTS_AFTER": "P60D",
}


def test_time_budgets_and_retention_are_read_from_the_environment(
    clean_env: pytest.MonkeyPatch,
) -> None:
    for name, value in _RELIABILITY_ENV.items():
        clean_env.setenv(name, value)

    settings = BookingLikeSettings()

    assert settings.db_timeouts().server_settings() == {
        "statement_timeout": "20000",
        "lock_timeout": "2500",
        "idle_in_transaction_session_timeout": "0",
    }
    assert (settings.handler_timeout, settings.outage_backoff_max) == (12.0, 4.0)
    assert (settings.prune_interval, settings.prune_batch) == (60.0, 50)
    assert settings.prune_inbox_after == timedelta(days=120)
    assert settings.prune_outbox_after == timedelta(days=3)
    assert settings.prune_idempotency_after == timedelta(hours=12)
    assert settings.prune_dead_letters_after == timedelta(days=10)
    assert settings.prune_settled_timers_after == timedelta(days=5)
    assert settings.prune_attempts_after == timedelta(days=60)


def test_the_documented_reliability_defaults(clean_env: pytest.MonkeyPatch) -> None:
    for name in _RELIABILITY_ENV:
        clean_env.delenv(name, raising=False)

    settings = BookingLikeSettings()

    assert settings.db_timeouts().server_settings() == {
        "statement_timeout": "15000",
        "lock_timeout": "5000",
        "idle_in_transaction_session_timeout": "60000",
    }
    assert (settings.handler_timeout, settings.outage_backoff_max) == (30.0, 10.0)
    # Inbox rows outlive the streams' 90 days, so a redelivery always finds its row.
    assert settings.prune_inbox_after == timedelta(days=100)
    assert settings.prune_outbox_after == timedelta(days=7)
    assert settings.prune_idempotency_after == timedelta(hours=24)


@pytest.mark.parametrize("age", ["P30D", "P90D"])
def test_inbox_retention_at_or_below_the_streams_is_refused(
    clean_env: pytest.MonkeyPatch, age: str
) -> None:
    # The stream may still redeliver (or a rebuild replay) a message whose inbox row is gone.
    clean_env.setenv("PRUNE_INBOX_AFTER", age)

    with pytest.raises(ValidationError, match="PRUNE_INBOX_AFTER must be longer than the streams"):
        BookingLikeSettings()


@pytest.mark.parametrize(
    ("ttl", "prune_after", "kept"),
    [("P7D", "PT24H", timedelta(days=7)), ("PT1H", "PT24H", timedelta(hours=24))],
    ids=["ttl-longer", "prune-longer"],
)
def test_idempotency_keys_are_never_pruned_before_their_ttl(
    clean_env: pytest.MonkeyPatch, ttl: str, prune_after: str, kept: timedelta
) -> None:
    clean_env.setenv("IDEMPOTENCY_KEY_TTL", ttl)
    clean_env.setenv("PRUNE_IDEMPOTENCY_AFTER", prune_after)

    targets = {t.table: t.keep for t in backbone_targets(BookingLikeSettings())}

    assert targets["idempotency_keys"] == kept


def test_the_bus_and_database_security_settings_are_read_and_empty_means_unset() -> None:
    settings = ServiceSettings.model_validate(
        {
            "DATABASE_URL": "postgresql://svc:pw@db:5432/svc",
            "MIGRATION_DATABASE_URL": "postgresql://svc_owner:pw@db:5432/svc?sslmode=disable",
            "DATABASE_SSLMODE": "require",
            "NATS_NKEY_SEED_FILE": "/run/bus/seed.nk",
            "NATS_NKEY_SEED": "",
        }
    )
    assert settings.database_url == "postgresql://svc:pw@db:5432/svc?sslmode=require"
    # A URL that names its own sslmode keeps it.
    assert settings.migration_dsn.endswith("?sslmode=disable")
    assert settings.nats_nkey_seed is None
    assert settings.nats_authenticated
    plain = ServiceSettings.model_validate({"MIGRATION_DATABASE_URL": "", "DATABASE_SSLMODE": ""})
    assert plain.migration_dsn == plain.database_url
    assert "sslmode" not in plain.database_url
    assert not plain.nats_authenticated


def test_the_heap_is_frozen_after_start_unless_turned_off(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("GC_FREEZE_AFTER_START", raising=False)
    assert BookingLikeSettings().gc_freeze_after_start is True

    clean_env.setenv("GC_FREEZE_AFTER_START", "false")
    assert BookingLikeSettings().gc_freeze_after_start is False


def test_the_collector_thresholds_are_read_and_checked(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("GC_THRESHOLDS", raising=False)
    assert parse_gc_thresholds(BookingLikeSettings().gc_thresholds) == (700, 10, 10)

    clean_env.setenv("GC_THRESHOLDS", " 3000, 20 ,5")
    assert parse_gc_thresholds(BookingLikeSettings().gc_thresholds) == (3000, 20, 5)

    for wrong in ("700,10", "700,10,10,10", "a,10,10", "-1,10,10", "0,10,10", ""):
        clean_env.setenv("GC_THRESHOLDS", wrong)
        with pytest.raises(ValidationError, match="GC_THRESHOLDS"):
            BookingLikeSettings()
