"""Where counselctl looks for each service's database and NATS."""

from opsctl.config import Database, Service, database_for, nats_url


def test_an_explicit_url_wins_over_the_environment() -> None:
    env = {"BOOKING_DATABASE_URL": "postgresql://a@h/x", "DATABASE_URL": "postgresql://b@h/y"}

    found = database_for(Service.BOOKING, "postgresql://c@h/z", env=env)

    assert found == Database("postgresql://c@h/z")


def test_the_service_variable_wins_over_the_shared_one() -> None:
    env = {
        "CRISIS_DATABASE_URL": "postgresql://a@h/crisis_db",
        "DATABASE_URL": "postgresql://b@h/y",
    }

    assert database_for(Service.CRISIS, env=env).url == "postgresql://a@h/crisis_db"


def test_the_shared_url_names_the_service_database_like_make_run() -> None:
    env = {"DATABASE_URL": "postgresql://postgres:pw@db.example:5433/postgres?sslmode=require"}

    found = database_for(Service.FOLLOWUP, env=env)

    assert found.url == "postgresql://postgres:pw@db.example:5433/followup?sslmode=require"


def test_without_any_setting_the_services_default_server_is_used() -> None:
    assert database_for(Service.NOTIFY, env={}).url == "postgresql://postgres@127.0.0.1:5432/notify"


def test_a_schema_comes_from_the_service_then_the_shared_variable() -> None:
    env = {"DATABASE_SCHEMA": "shared_one", "BOOKING_DATABASE_SCHEMA": "booking_one"}

    assert database_for(Service.BOOKING, env=env).schema == "booking_one"
    assert database_for(Service.CRISIS, env=env).schema == "shared_one"
    assert database_for(Service.CRISIS, explicit_schema="mine", env=env).schema == "mine"


def test_nats_comes_from_the_option_then_the_environment_then_the_default() -> None:
    assert nats_url("nats://opt:1", env={"NATS_URL": "nats://env:2"}) == "nats://opt:1"
    assert nats_url(env={"NATS_URL": "nats://env:2"}) == "nats://env:2"
    assert nats_url(env={}) == "nats://127.0.0.1:4222"
