"""Help that reads naturally: a flag shows no value type.

typer 0.29 (its own click fork) gives every option a type label in its rich help panel, flags
too: `--help <bool>`, `--json <bool>`, as if they took a value. Its plain help already leaves
the label out for flags and counters (`TyperOption.get_help_record`); this applies the same rule
to the rich panel. Installed once, when `opsctl.cli` is imported.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

_with_type = TyperOption.display_type_rich


def _display_type_rich(self: TyperOption, ctx: Any) -> str | None:
    if self.is_flag or self.count:
        return None  # nothing to type after a flag
    return _with_type(self, ctx)


def install() -> None:
    setattr(TyperOption, "display_type_rich", _display_type_rich)  # noqa: B010 - a method
