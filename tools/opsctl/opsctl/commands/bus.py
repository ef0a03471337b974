"""`counselctl bus config`: the bus's users, their nkeys and nats-server's authorization."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from opsctl.bus import USERS, write_bus_config
from opsctl.commands.common import fail
from opsctl.console import stdout

app = typer.Typer(help="The bus's users: one per service, and the operator.", no_args_is_help=True)


@app.command()
def config(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for auth.conf and the seeds.")
    ],
) -> None:
    """Write nats-server's `authorization` block (`server/auth.conf`, to `include` in its
    config) and one nkey seed per user (`<user>/seed.nk`, owner-only). Existing seeds are
    kept."""
    try:
        made = write_bus_config(out)
    except OSError as exc:  # a read-only or mistyped directory: say so, not a traceback
        fail(f"cannot write the bus's users under {out}: {exc.strerror or exc}")
    out_ = stdout()
    out_.print(f"{made.auth_file}  (include it in nats-server's configuration)")
    for user in USERS:
        out_.print(f"{made.seed_file(user)}  (NATS_NKEY_SEED_FILE of {user})")
