"""A newcomer who started `make run` with DEVSTACK_VAR_DIR and ran counselctl without it got only
"no NATS server answers at nats://127.0.0.1:4222": the error now says where counselctl looked."""

import fcntl
import json
import os
import socket
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from opsctl.cli import app
from opsctl.commands.common import database, run
from opsctl.config import (
    API_VARIABLES,
    DEFAULT_PORTS,
    Service,
    missing_stack_hint,
    stale_stack_hint,
)

STATE = {"format": 1, "nats": {"url": "nats://127.0.0.1:14222"}, "databases": {}, "services": {}}


def test_the_hint_names_the_state_file_it_did_not_find(tmp_path: Path) -> None:
    hint = missing_stack_hint({"DEVSTACK_VAR_DIR": str(tmp_path)})

    assert hint is not None
    assert str(tmp_path / "devstack.json") in hint
    assert "DEVSTACK_VAR_DIR" in hint


@pytest.mark.parametrize(
    "env",
    [{"NATS_URL": "nats://elsewhere:4222"}, {"DATABASE_URL": "postgresql://u@elsewhere/postgres"}],
)
def test_no_hint_when_a_server_is_named(tmp_path: Path, env: dict[str, str]) -> None:
    assert missing_stack_hint({"DEVSTACK_VAR_DIR": str(tmp_path), **env}) is None


def test_no_hint_when_a_running_stack_was_found(tmp_path: Path) -> None:
    (tmp_path / "devstack.json").write_text(json.dumps(STATE), encoding="utf-8")

    assert missing_stack_hint({"DEVSTACK_VAR_DIR": str(tmp_path)}) is None


async def _unreachable() -> None:
    raise OSError("no NATS server answers at nats://127.0.0.1:4222")


def test_an_unreachable_server_without_a_stack_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEVSTACK_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)

    with pytest.raises(typer.Exit) as exited:
        run(_unreachable())

    assert exited.value.exit_code == 1
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "no NATS server answers" in err
    assert "no running `make run` found" in err
    assert str(tmp_path / "devstack.json") in err


def test_demo_load_without_a_stack_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`counselctl demo load` against a `make run` started with DEVSTACK_VAR_DIR said only
    "cannot reach http://127.0.0.1:8001/sites"."""
    monkeypatch.setenv("DEVSTACK_VAR_DIR", str(tmp_path))
    for name in API_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    unused = socket.socket()
    unused.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    port = unused.getsockname()[1]
    for service in DEFAULT_PORTS:  # the contract's ports may serve someone else's stack
        monkeypatch.setitem(DEFAULT_PORTS, service, port)

    try:
        result = CliRunner().invoke(app, ["demo", "load", "--wait", "0"])
        with_urls = CliRunner().invoke(
            app, ["demo", "load", "--booking-url", f"http://127.0.0.1:{port}"]
        )
    finally:
        unused.close()

    assert result.exit_code == 1
    err = " ".join(result.output.split())
    assert f"cannot reach http://127.0.0.1:{port}/sites" in err
    assert "no running `make run` found" in err
    assert str(tmp_path / "devstack.json") in err
    assert "--booking-url" in err
    assert with_urls.exit_code == 1
    assert "no running `make run` found" not in with_urls.output


def test_a_port_variable_names_the_services_for_demo_load(tmp_path: Path) -> None:
    env = {"DEVSTACK_VAR_DIR": str(tmp_path), "BOOKING_PORT": "19201"}

    assert missing_stack_hint(env, API_VARIABLES) is None
    assert missing_stack_hint({"DEVSTACK_VAR_DIR": str(tmp_path)}, API_VARIABLES) is not None


def _stack_files(var_dir: Path) -> Path:
    (var_dir / "devstack.json").write_text(json.dumps(STATE), encoding="utf-8")
    lock = var_dir / "devstack.lock"
    lock.write_text("4242\n", encoding="utf-8")
    return lock


def test_a_state_file_left_by_a_killed_run_is_named_as_such(tmp_path: Path) -> None:
    """A `make run` killed with SIGKILL leaves devstack.json behind, and its lock free."""
    _stack_files(tmp_path)

    hint = stale_stack_hint({"DEVSTACK_VAR_DIR": str(tmp_path)})

    assert hint is not None
    assert str(tmp_path / "devstack.json") in hint
    assert "no longer running" in hint


def test_a_running_stacks_state_file_is_not_called_stale(tmp_path: Path) -> None:
    lock = _stack_files(tmp_path)
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the running stack holds it
        assert stale_stack_hint({"DEVSTACK_VAR_DIR": str(tmp_path)}) is None
    finally:
        os.close(fd)


def test_an_unreachable_database_is_named_without_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def connect_nowhere() -> None:
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]  # nothing listens there once closed
        async with database(
            Service.BOOKING, f"postgresql://ops:s3cret@127.0.0.1:{port}/booking", None
        ):
            pass

    with pytest.raises(typer.Exit):
        run(connect_nowhere())

    err = " ".join(capsys.readouterr().err.split())
    assert "cannot reach the server (booking's database at postgresql://ops:***@127.0.0.1:" in err
    assert "s3cret" not in err
