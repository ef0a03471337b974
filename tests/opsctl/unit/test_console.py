"""An error raised while a progress bar is on screen goes below the bar, never onto its line
with the bar drawn again after it."""

from __future__ import annotations

import pytest
import typer

from opsctl.commands.common import fail
from opsctl.console import progress


def test_a_failure_inside_a_progress_ends_the_bar_before_the_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def redrive() -> None:
        with progress() as bar:
            bar.add_task("redriving", total=2)
            fail("booking has no dead letter 12")

    with pytest.raises(typer.Exit) as exited:
        redrive()

    lines = capsys.readouterr().err.splitlines()
    assert exited.value.exit_code == 1
    assert lines[-1] == "error: booking has no dead letter 12"
    assert [line for line in lines if "redriving" in line] == lines[:-1]
    assert len(lines) == 2, lines


def test_a_bar_that_ends_normally_is_drawn_once(capsys: pytest.CaptureFixture[str]) -> None:
    with progress() as bar:
        task = bar.add_task("redriving", total=1)
        bar.advance(task)

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert "1/1" in lines[0]
