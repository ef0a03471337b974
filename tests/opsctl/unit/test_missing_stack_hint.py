"""A newcomer who started `make run` with DEVSTACK_VAR_DIR and ran counselctl without it got only
"no NATS server answers at nats://127.0.0.1:4222": the error now says where counselctl looked."""

import json
from pathlib import Path

import pytest
import typer

from opsctl.commands.common import run
from opsctl.config import missing_stack_hint

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
