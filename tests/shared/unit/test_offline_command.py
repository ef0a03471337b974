"""`python -m <service> rebuild-projections` against a database that does not answer: one line
naming the command and the setting to check, exit 1, no traceback (a newcomer ran it without
DATABASE_URL and got 50 lines of asyncpg internals)."""

import os
import socket
import subprocess
import sys

import pytest

SERVICES = ["booking", "followup", "notify", "crisis"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: nothing listens there


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
