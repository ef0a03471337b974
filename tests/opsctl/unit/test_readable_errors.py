"""What a newcomer saw instead of the reason: `counselctl streams ensure --replicas 3` on a
single NATS server said "cannot reach the server: ServerError()" (it was reached, and refused),
and `counselctl bus config --out` a directory it cannot write printed a traceback."""

from pathlib import Path

import nats.js.errors
import pytest
import typer
from typer.testing import CliRunner

from opsctl.cli import app
from opsctl.commands.common import run


async def _refused() -> None:
    raise nats.js.errors.ServerError(
        code=500, err_code=10074, description="replicas > 1 not supported in non-clustered mode"
    )


def test_a_jetstream_refusal_gives_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exited:
        run(_refused())

    assert exited.value.exit_code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "replicas > 1 not supported in non-clustered mode" in err
    assert "10074" in err
    assert "cannot reach" not in err


def test_bus_config_into_a_directory_it_cannot_make_is_an_error_not_a_traceback(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    result = CliRunner().invoke(app, ["bus", "config", "--out", str(blocker / "bus")])

    assert result.exit_code == 1
    assert "cannot write the bus's users under" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
