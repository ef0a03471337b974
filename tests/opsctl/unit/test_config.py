"""Where counselctl looks for each service's database and NATS."""

import json
from pathlib import Path
from typing import Any

from opsctl.config import (
    Database,
    Service,
    database_for,
    devstack_state,
    nats_url,
    service_url,
    state_path,
)


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


def test_owner_commands_prefer_the_migration_role_at_each_level() -> None:
    """A service's container: DATABASE_URL is the runtime role, MIGRATION_DATABASE_URL the
    owner, each naming the service's own database."""
    container = {
        "DATABASE_URL": "postgresql://booking:rt@db:5432/booking",
        "MIGRATION_DATABASE_URL": "postgresql://booking_owner:ow@db:5432/booking",
    }
    specific = container | {
        "BOOKING_DATABASE_URL": "postgresql://rt@h/b",
        "BOOKING_MIGRATION_DATABASE_URL": "postgresql://ow@h/b",
    }

    assert database_for(Service.BOOKING, env=container, owner=True).url == (
        "postgresql://booking_owner:ow@db:5432/booking"
    )
    assert database_for(Service.BOOKING, env=container).url == (
        "postgresql://booking:rt@db:5432/booking"
    )
    assert database_for(Service.BOOKING, env=specific, owner=True).url == "postgresql://ow@h/b"
    assert database_for(Service.BOOKING, env=specific).url == "postgresql://rt@h/b"
    assert database_for(Service.BOOKING, "postgresql://x@h/b", env=specific, owner=True).url == (
        "postgresql://x@h/b"
    )


def test_owner_commands_fall_back_on_the_runtime_variables() -> None:
    env = {"BOOKING_DATABASE_URL": "postgresql://rt@h/b", "DATABASE_URL": "postgresql://s@h/x"}

    assert database_for(Service.BOOKING, env=env, owner=True).url == "postgresql://rt@h/b"
    assert database_for(Service.CRISIS, env=env, owner=True).url == "postgresql://s@h/crisis"


def test_a_migration_url_alone_keeps_a_running_devstack_out() -> None:
    state = {"databases": {"notify": "postgresql://postgres@127.0.0.1:5432/notify"}}
    env = {"MIGRATION_DATABASE_URL": "postgresql://o@db/notify"}

    assert database_for(Service.NOTIFY, env=env, state=state, owner=True).url == (
        "postgresql://o@db/notify"
    )
    assert database_for(Service.NOTIFY, env={}, state=state, owner=True).url == (
        "postgresql://postgres@127.0.0.1:5432/notify"
    )


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


STATE: dict[str, Any] = {
    "format": 1,
    "nats": {"url": "nats://127.0.0.1:14222", "monitor_url": None, "credentials": None},
    "databases": {"crisis": "postgresql://postgres@127.0.0.1:15432/crisis"},
    "services": {},
    "api_key": None,
}


def test_a_running_devstack_is_found_when_nothing_is_set() -> None:
    assert database_for(Service.CRISIS, env={}, state=STATE).url == STATE["databases"]["crisis"]
    assert nats_url(env={}, state=STATE) == "nats://127.0.0.1:14222"


def test_the_environment_wins_over_a_running_devstack() -> None:
    env = {"DATABASE_URL": "postgresql://b@h/y", "NATS_URL": "nats://elsewhere:4222"}

    assert database_for(Service.CRISIS, env=env, state=STATE).url == "postgresql://b@h/crisis"
    assert nats_url(env=env, state=STATE) == "nats://elsewhere:4222"


def test_a_services_api_is_found_where_a_running_devstack_serves_it() -> None:
    # `BOOKING_PORT=9101 make run` in one terminal, `counselctl demo load` in another.
    state = {**STATE, "services": {"booking": "http://127.0.0.1:9101"}}

    assert service_url(Service.BOOKING, env={}, state=state) == "http://127.0.0.1:9101"
    assert service_url(Service.CRISIS, env={}, state=state) == "http://127.0.0.1:8004"
    assert service_url(Service.BOOKING, env={"BOOKING_PORT": "9201"}, state=state) == (
        "http://127.0.0.1:9201"
    )
    assert service_url(Service.BOOKING, "http://b:1", env={}, state=state) == "http://b:1"


def test_the_state_file_lives_in_the_devstack_var_dir(tmp_path: Path) -> None:
    (tmp_path / "devstack.json").write_text(json.dumps(STATE), encoding="utf-8")

    assert state_path({"DEVSTACK_VAR_DIR": str(tmp_path)}) == tmp_path / "devstack.json"
    assert devstack_state({"DEVSTACK_VAR_DIR": str(tmp_path)}) == STATE
    assert devstack_state({"DEVSTACK_VAR_DIR": str(tmp_path / "none")}) == {}


def test_database_sslmode_is_applied_as_the_services_apply_it() -> None:
    """A service's container (Kubernetes) has DATABASE_SSLMODE=require and URLs without it; the
    service adds it to both URLs, and counselctl run there (`counselctl rebuild`) must too,
    rather than connect with asyncpg's `prefer`."""
    container = {
        "DATABASE_URL": "postgresql://booking:rt@db:5432/booking",
        "MIGRATION_DATABASE_URL": "postgresql://booking_owner:ow@db:5432/booking",
        "DATABASE_SSLMODE": "require",
    }
    named = container | {"BOOKING_DATABASE_URL": "postgresql://o@db/booking?sslmode=verify-full"}

    assert database_for(Service.BOOKING, env=container, owner=True).url == (
        "postgresql://booking_owner:ow@db:5432/booking?sslmode=require"
    )
    assert database_for(Service.CRISIS, env=container).url == (
        "postgresql://booking:rt@db:5432/crisis?sslmode=require"
    )
    assert database_for(Service.BOOKING, env=named).url == (
        "postgresql://o@db/booking?sslmode=verify-full"  # a URL naming one keeps it
    )
    assert (
        "sslmode" not in database_for(Service.BOOKING, env=container | {"DATABASE_SSLMODE": ""}).url
    )
