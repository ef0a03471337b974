"""`python -m <service> rebuild-projections` against a database that does not answer: one line
naming the command and the setting to check, exit 1, no traceback (a newcomer ran it without
DATABASE_URL and got 50 lines of asyncpg internals)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.ports import free_port

SERVICES = ["booking", "followup", "notify", "crisis"]


def _closed_port() -> int:
    # Claimed like the test servers' ports (devstack.ports): no server another worker starts
    # meanwhile binds it, so nothing listens there.
    return free_port()


@pytest.mark.parametrize("service", SERVICES)
def test_rebuild_against_an_unreachable_database_is_one_line(service: str) -> None:
    env = {
        k: v for k, v in os.environ.items() if "DATABASE_URL" not in k and k != "DATABASE_SCHEMA"
    }
    url = f"postgresql://postgres:secret-pw@127.0.0.1:{_closed_port()}/{service}"
    env |= {"DATABASE_URL": url, "DEVELOPMENT_MODE": "true"}

    done = subprocess.run(
        [sys.executable, "-m", service, "rebuild-projections"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("rebuild-projections: the database failed: ")
    assert "DATABASE_URL" in done.stderr
    assert "secret-pw" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("service", SERVICES)
def test_an_unknown_command_names_the_ones_there_are(service: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", service, "rebuild"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.strip() == f"usage: python -m {service} [rebuild-projections]"


LEAKED = "Bearer s3cret-0123456789abcdef"  # a test credential


@pytest.mark.parametrize(
    ("service", "command", "env", "named"),
    [
        # A credential with a line break: pydantic's message ended with most of it.
        ("notify", [], {"SMS_WEBHOOK_AUTH": f"{LEAKED}\nx"}, "SMS_WEBHOOK_AUTH: "),
        ("notify", [], {"SMS_PROVIDER": "twilio", "TWILIO_AUTH_TOKEN": LEAKED}, "TWILIO_WEBHOOK"),
        (
            "crisis",
            ["rebuild-projections"],
            {"SMS_PROVIDER": "twilio", "TWILIO_WEBHOOK_BASE_URL": "https://x"},
            "TWILIO_AUTH_TOKEN",
        ),
        ("crisis", [], {"SMS_PROVIDER": "Twilio"}, "SMS_PROVIDER: Input should be"),
        ("booking", [], {"BOOKING_PORT": "eighty"}, "BOOKING_PORT: "),
    ],
)
def test_invalid_settings_are_named_in_a_few_lines_without_their_values(
    service: str, command: list[str], env: dict[str, str], named: str
) -> None:
    given = {k: v for k, v in os.environ.items() if not k.startswith(("SMS_", "TWILIO_"))}
    given |= {"DATABASE_URL": f"postgresql://x@127.0.0.1:{_closed_port()}/{service}"} | env

    done = subprocess.run(
        [sys.executable, "-m", service, *command],
        env=given,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"{service}: the settings are invalid (nothing was started):")
    assert named in done.stderr
    assert "s3cret" not in done.stderr  # not even a piece of it
    assert done.stdout == ""


REAL_API_KEY = "k-9f2c4e6a8b0d1f3e5a7c9e1b;role=admin;sites=*"  # not the development key


def _start(service: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m <service>` as compose or a pod starts it, outside development mode, with a
    database nothing listens on (what is checked here comes before any connection)."""
    given = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SMS_", "TWILIO_", "NATS_", "LINK_", "API_KEYS", "DATABASE"))
    }
    given |= {
        "DEVELOPMENT_MODE": "false",
        "API_KEYS": REAL_API_KEY,
        "LINK_SIGNING_KEY": "4f1c0b9e7d2a" * 4,
        "DATABASE_URL": f"postgresql://x:secret-pw@127.0.0.1:{_closed_port()}/{service}",
        "NATS_URL": f"nats://127.0.0.1:{_closed_port()}",
        f"{service.upper()}_PORT": str(_closed_port()),
    } | env
    return subprocess.run(
        [sys.executable, "-m", service], env=given, capture_output=True, text=True, timeout=90
    )


def _assert_one_clear_refusal(done: subprocess.CompletedProcess[str], service: str) -> None:
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert lines[0] == f"{service}: the settings are invalid (nothing was started):", lines
    assert len(lines) == 2, lines
    assert done.stdout == "", "nothing was started, nothing logged"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(
    ("key", "named"),
    [("", "LINK_SIGNING_KEY is empty"), ("s3cret-short", "LINK_SIGNING_KEY is shorter than 32")],
    ids=["missing", "too-short"],
)
def test_a_missing_or_short_link_key_is_one_line_naming_it(
    service: str, key: str, named: str
) -> None:
    done = _start(service, {"LINK_SIGNING_KEY": key})

    _assert_one_clear_refusal(done, service)
    assert named in done.stderr
    assert "s3cret" not in done.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_the_development_api_key_outside_development_mode_is_one_line(service: str) -> None:
    done = _start(service, {"API_KEYS": "dev-admin-key"})

    _assert_one_clear_refusal(done, service)
    assert "API_KEYS holds 'dev-admin-key'" in done.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_every_refusal_is_named_at_once_not_one_per_start(service: str, tmp_path: Path) -> None:
    """An operator with a short link key, the development API key and a missing seed file used
    to learn of one per attempt (the link key, then API_KEYS on the next start)."""
    missing = tmp_path / "seed.nk"
    done = _start(
        service,
        {
            "LINK_SIGNING_KEY": "s3cret-short",
            "API_KEYS": "dev-admin-key",
            "NATS_NKEY_SEED_FILE": str(missing),
        },
    )

    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert lines[0] == f"{service}: the settings are invalid (nothing was started):", lines
    assert lines[1:] == [
        f"  NATS_NKEY_SEED_FILE: cannot read {missing} (No such file or directory)",
        "  LINK_SIGNING_KEY is shorter than 32 characters; set a long random value"
        " (`openssl rand -hex 32`)",
        "  API_KEYS holds 'dev-admin-key', the development stack's key; set"
        " DEVELOPMENT_MODE=true for a development stack, or configure real keys",
    ]
    assert "s3cret" not in done.stderr


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("variable", ["NATS_NKEY_SEED_FILE", "NATS_TLS_CA_FILE"])
def test_a_file_setting_naming_a_missing_file_is_one_line_naming_the_variable(
    service: str, variable: str, tmp_path: Path
) -> None:
    missing = tmp_path / "not-mounted" / "seed.nk"
    done = _start(service, {variable: str(missing)})

    _assert_one_clear_refusal(done, service)
    assert f"  {variable}: cannot read {missing} (No such file or directory)" in done.stderr


@pytest.mark.parametrize(
    ("service", "variable"),
    [
        ("notify", "TWILIO_AUTH_TOKEN_FILE"),
        ("crisis", "TWILIO_AUTH_TOKEN_FILE"),
        ("notify", "TWILIO_API_KEY_SECRET_FILE"),
    ],
)
def test_an_unused_file_setting_is_checked_all_the_same(
    service: str, variable: str, tmp_path: Path
) -> None:
    # With the webhook provider the file is never read: a typo in its path would surface only
    # the day Twilio is switched on.
    done = _start(service, {variable: str(tmp_path / "absent")})

    _assert_one_clear_refusal(done, service)
    assert f"  {variable}: cannot read " in done.stderr
