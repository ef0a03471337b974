"""The pages say what the code does: every setting the services read is in a settings table with
its default, no table lists a variable nothing reads, every table of a service's migrations is
named in its README and in the rebuild table of docs/operator-cli.md, and every counselctl
command has its section there (test_counselctl_calls checks every command line the pages
show). Each check reads the code itself, so a new setting, table or command without its
documentation fails here."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import typer.main
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from booking.settings import BookingSettings
from counseling_shared.settings import ServiceSettings
from crisis.settings import CrisisSettings
from followup.settings import FollowupSettings
from notify.settings import NotifySettings
from opsctl.cli import app

ROOT = Path(__file__).resolve().parents[2]
SERVICES: dict[str, type[ServiceSettings]] = {
    "booking": BookingSettings,
    "followup": FollowupSettings,
    "notify": NotifySettings,
    "crisis": CrisisSettings,
}
# A settings table's header, and one of its rows: `| `A`, `B` | default(s) | meaning |`.
SETTINGS_HEADER = "| variable | default | meaning |"
SETTINGS_ROW = re.compile(r"^\| ((?:`[A-Z][A-Z0-9_]+`(?:, )?)+)[^|]*\| ([^|]*) \|", re.M)
CREATE_TABLE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)", re.I)
ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def _text(path: str) -> str:
    return (ROOT / path).read_text("utf-8")


def _aliases(settings: type[BaseSettings]) -> set[str]:
    return {f.alias for f in settings.model_fields.values() if f.alias}


def _settings_rows(text: str) -> list[tuple[list[str], list[str]]]:
    """(variables, defaults) of each row of the page's settings tables."""
    rows = []
    for table in text.split(SETTINGS_HEADER)[1:]:
        body = table.split("\n\n", 1)[0]
        for names, defaults in SETTINGS_ROW.findall(body):
            rows.append(
                (
                    re.findall(r"`([A-Z][A-Z0-9_]+)`", names),
                    [d.strip() for d in defaults.split(", ")],
                )
            )
    return rows


def _migration_tables(service: str) -> set[str]:
    sql = "\n".join(
        p.read_text() for p in (ROOT / f"services/{service}/{service}/migrations").glob("*.sql")
    )
    return {name.lower() for name in CREATE_TABLE.findall(sql)}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_setting_of_a_service_is_in_its_readme(service: str) -> None:
    readme = _text(f"services/{service}/README.md")
    own = _aliases(SERVICES[service]) - _aliases(ServiceSettings)
    missing = sorted(alias for alias in own if f"`{alias}`" not in readme)
    assert not missing, f"services/{service}/README.md does not name {missing}"


def test_every_backbone_setting_is_in_the_readme_configuration() -> None:
    configuration = _text("README.md").split("## Configuration", 1)[1]
    missing = sorted(
        alias for alias in _aliases(ServiceSettings) if f"`{alias}`" not in configuration
    )
    assert not missing, f"README.md's Configuration does not name {missing}"


def _read_somewhere() -> set[str]:
    """Every variable the services read, and those `make run` reads (devstack's own)."""
    aliases = set().union(*(_aliases(s) for s in SERVICES.values()))
    devstack = "\n".join(p.read_text() for p in (ROOT / "tools/devstack").rglob("*.py"))
    return aliases | set(re.findall(r"\"(DEVSTACK_[A-Z_]+)\"", devstack))


@pytest.mark.parametrize(
    "page", ["README.md", *(f"services/{s}/README.md" for s in sorted(SERVICES))]
)
def test_no_settings_table_lists_a_variable_nothing_reads(page: str) -> None:
    read = _read_somewhere()
    listed = {name for names, _ in _settings_rows(_text(page)) for name in names}
    assert not listed - read, f"{page} lists variables nothing reads: {sorted(listed - read)}"


def _as_documented(value: object) -> str | None:
    """How a default is written in a settings table, or None when it is not a plain value."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, timedelta):
        return str(value.total_seconds())
    if isinstance(value, int | float):
        return str(float(value))
    if isinstance(value, str) and value:
        match = ISO_DURATION.match(value)
        return _duration(match) if match else value
    return None


def _duration(match: re.Match[str]) -> str:
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return str(timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds).total_seconds())


def _written(cell: str) -> str | None:
    """A default as the page writes it, comparable with `_as_documented`; None for prose
    ("unset", "sink", "(none)", a range), which is not compared."""
    cell = cell.strip()
    if len(cell) > 2 and cell[0] == cell[-1] == "`":
        literal = cell[1:-1]
        match = ISO_DURATION.match(literal)
        return _duration(match) if match and literal != "P" else literal
    number = re.match(r"^(\d+(?:\.\d+)?)(?: \(s\))?$", cell)
    if number:
        return str(float(number.group(1)))
    return cell if cell in ("true", "false") else None


@pytest.mark.parametrize(
    "page", ["README.md", *(f"services/{s}/README.md" for s in sorted(SERVICES))]
)
def test_settings_tables_give_the_codes_defaults(page: str) -> None:
    fields = {
        f.alias: f.default
        for s in ((ServiceSettings,) if page == "README.md" else ()) + tuple(SERVICES.values())
        for f in s.model_fields.values()
        if f.alias
    }
    if page != "README.md":  # a service's page is about that service's own defaults
        own = SERVICES[page.split("/")[1]]
        fields = {f.alias: f.default for f in own.model_fields.values() if f.alias}
    wrong = []
    for names, defaults in _settings_rows(_text(page)):
        cells = defaults if len(defaults) == len(names) else [defaults[0]] * len(names)
        for name, cell in zip(names, cells, strict=True):
            written, actual = _written(cell), _as_documented(fields.get(name))
            if name in fields and written is not None and actual is not None and written != actual:
                wrong.append(f"{name}: {cell!r}, the code says {fields[name]!r}")
    assert not wrong, f"{page}: defaults that differ from the code:\n" + "\n".join(wrong)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_table_of_a_service_is_named_in_its_readme(service: str) -> None:
    readme = _text(f"services/{service}/README.md")
    missing = sorted(t for t in _migration_tables(service) if f"`{t}`" not in readme)
    assert not missing, f"services/{service}/README.md does not name the tables {missing}"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_rebuild_table_says_what_happens_to_every_table(service: str) -> None:
    row = re.search(rf"^\| {service} \|.*$", _text("docs/operator-cli.md"), re.M)
    assert row, f"docs/operator-cli.md has no rebuild row for {service}"
    missing = sorted(t for t in _migration_tables(service) if f"`{t}`" not in row.group(0))
    assert not missing, f"the rebuild row of {service} says nothing of {missing}"


def _command_paths(group: Any, prefix: str = "") -> list[str]:
    """Every command under `group` (Typer's own click: a group is what has `commands`)."""
    paths = []
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if hasattr(command, "commands"):
            if command.invoke_without_command:  # `counselctl streams` reports on its own
                paths.append(path)
            paths += _command_paths(command, f"{path} ")
        else:
            paths.append(path)
    return paths


def _sections(page: str) -> set[str]:
    """The command of each heading like "## `counselctl dead-letters list --service S`"."""
    found = set()
    for code in re.findall(r"^#+ `([^`]+)`", _text(page), re.M):
        words = code.removeprefix("counselctl ").split()
        command = []
        for word in words:
            if not re.fullmatch(r"[a-z][a-z-]*", word):
                break
            command.append(word)
        found.add(" ".join(command))
    return found


def test_every_counselctl_command_has_a_section_in_the_operator_guide() -> None:
    root = typer.main.get_command(app)
    sections = _sections("docs/operator-cli.md")
    missing = sorted(p for p in _command_paths(root) if p not in sections)
    assert not missing, f"docs/operator-cli.md has no section for counselctl {missing}"


def test_the_default_check_sees_a_wrong_default() -> None:
    assert _written("`PT2M`") == _as_documented(timedelta(minutes=2))
    assert _written("10 (s)") == _as_documented(10.0)
    assert _written("`PT5M`") != _as_documented("PT15M")
    assert _written("unset") is None
