"""Terminal output: tables and JSON on stdout, progress bars and errors on stderr.

Progress stays on stderr so `--json` output can be piped. Consoles are made per call because
the streams behind sys.stdout/sys.stderr may change (tests capture them).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

# Piped output has no terminal width; wide enough that a row of ids stays on one line.
_PIPE_WIDTH = 240


def stdout() -> Console:
    return Console(width=None if sys.stdout.isatty() else _PIPE_WIDTH, highlight=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


# The bar on screen, if any: an error printed while it is live would land on its line and the
# bar be drawn again after it, so `end_progress` stops it first.
_live: list[Progress] = []


@contextmanager
def progress() -> Iterator[Progress]:
    """A bar with `done/total` and elapsed time; a spinner while the total is unknown."""
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr(),
    )
    bar.start()
    _live.append(bar)
    try:
        yield bar
    finally:
        if bar in _live:  # not stopped by `end_progress` already
            _live.remove(bar)
            bar.stop()


def end_progress() -> None:
    """Stop the bars on screen, leaving their last state on a line of its own."""
    while _live:
        _live.pop().stop()


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    grid = Table(title=title, title_justify="left", min_width=len(title))
    for name in columns:
        grid.add_column(name, no_wrap=True)
    for row in rows:
        grid.add_row(*(cell(value) for value in row))
    return grid


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return age(value)
    return str(value)


def age(delta: timedelta) -> str:
    """`3d 4h`, `12m 5s`: how long ago, or how late, in two units at most."""
    seconds = int(delta.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2] or ["0s"]
    return sign + " ".join(shown)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=_jsonable, ensure_ascii=False) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
