"""`counselctl docs generate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from opsctl.commands.common import fail
from opsctl.console import stderr

app = typer.Typer(help="The published API documents (OpenAPI, AsyncAPI).", no_args_is_help=True)


@app.command()
def generate(
    out: Annotated[
        Path | None,
        typer.Option(
            help="The docs directory. Default: the source tree's docs/.", show_default=False
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 when a document is out of date.")
    ] = False,
) -> None:
    """Write `docs/openapi/<service>.json` for each service and `docs/asyncapi.json`, from the
    code."""
    # Imported here: it builds every service's app, which other commands need not pay for.
    from opsctl import docs as published

    docs_dir = out or published.default_docs_dir()
    if check:
        stale = published.drifted(docs_dir)
        if stale:
            fail(f"out of date: {', '.join(stale)}; regenerate with: {published.REGENERATE}")
        stderr().print("the published documents match the code")
        return
    for path in published.write_documents(docs_dir):
        stderr().print(f"wrote {path}")
