"""`counselctl --help` reads naturally: a flag shows no value type (`--help <bool>` did)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer.main
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


def _commands(group: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    found = [(path, group)]
    for name, command in getattr(group, "commands", {}).items():
        found += _commands(command, [*path, name])
    return found


def test_no_placeholder_is_lost_from_a_help_page() -> None:
    """Markdown help drops `<service>` outside backticks as an HTML tag: `docs generate`
    printed "docs/openapi/.json"."""
    lost = []
    for path, command in _commands(typer.main.get_command(app), []):
        texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
        placeholders = {m for text in texts for m in re.findall(r"<[A-Za-z_]+>", text)}
        if not placeholders:
            continue
        shown = CliRunner().invoke(app, [*path, "--help"], terminal_width=400).output
        lost += [f"{' '.join(path)}: {p}" for p in sorted(placeholders) if p not in shown]
    assert not lost, lost
