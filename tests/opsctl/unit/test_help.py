"""`counselctl --help` reads naturally: a flag shows no value type (`--help <bool>` did)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from opsctl.cli import app


@pytest.mark.parametrize(
    "command", [[], ["dead-letters", "list"], ["dead-letters", "redrive"], ["clients", "erase"]]
)
def test_flags_show_no_value_type(command: list[str]) -> None:
    answer = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)

    assert answer.exit_code == 0, answer.output
    assert "--help" in answer.output
    assert "<bool>" not in answer.output


def test_options_that_take_a_value_still_show_its_type() -> None:
    answer = CliRunner().invoke(app, ["dead-letters", "list", "--help"], terminal_width=200)

    limit = next(line for line in answer.output.splitlines() if "--limit" in line)
    assert "<int>" in limit
