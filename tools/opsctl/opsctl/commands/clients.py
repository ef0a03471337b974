"""`counselctl clients erase`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID, uuid4

import nats.errors
import typer
from rich.markup import escape

from opsctl import erasure
from opsctl.commands.common import (
    JsonOption,
    NatsUrlOption,
    fail,
    jetstream,
    owner_database,
    run,
)
from opsctl.console import print_json, stderr, stdout, table

app = typer.Typer(help="A client's data across the services.", no_args_is_help=True)

STREAM_LEFT = 3
"""Exit status: the databases are erased, the DLQ stream's copies not (all) removed."""


@app.command()
def erase(
    client_id: Annotated[UUID, typer.Argument(help="The client to erase.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: the erasure cannot be undone.")
    ] = False,
    nats_url: NatsUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Erase a client on request: booking keeps a tombstone (no name, contact details or
    notes), followup, notify and crisis delete what they hold; every service deletes its dead
    letters naming the client, and then their copies on the DLQ stream are deleted. Refused
    while the client has an unresolved crisis alert. Each service's database comes from
    `<SERVICE>_MIGRATION_DATABASE_URL`, `<SERVICE>_DATABASE_URL`, `MIGRATION_DATABASE_URL` or
    `DATABASE_URL`: it rewrites the event stores, which only the role owning the tables may.
    Each service's audit trail records the erasure (actor `operator`, your login name; action
    `erase_client`).
    When NATS cannot be reached, the databases are still erased and it exits 3: run it again
    once NATS answers."""
    if not yes:
        fail("erasing a client cannot be undone: pass --yes to go ahead", code=2)
    changed: dict[str, dict[str, int]] = {}
    request_id = uuid4().hex  # one id for the entries of this erasure in every service
    sweep = erasure.Sweep()
    problem: list[str] = []

    async def work() -> None:
        for service in erasure.ORDER:
            hook = erasure.erase_hook(service)
            doing = f"{service.value} erase (already erased: {', '.join(changed) or 'nothing'})"
            async with owner_database(service, None, None, doing) as conn:
                try:
                    changed[service.value] = dict(await hook(conn, client_id))
                except ValueError as exc:  # a refusal, before anything changed there
                    await erasure.record(conn, client_id, request_id, status=409)
                    done = ", ".join(changed) or "nothing"
                    fail(f"{service.value} refused: {exc} (already erased: {done})")
                await erasure.record(conn, client_id, request_id, status=200)
        # After every database: a refusal above must leave the stream untouched too.
        try:
            async with jetstream(nats_url) as js:
                await erasure.sweep_dlq(js, client_id, sweep)
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            problem.append(repr(exc))

    run(work())
    if as_json:
        print_json(
            {
                "client_id": str(client_id),
                "erased": changed,
                "dlq_stream": {
                    "scanned": sweep.scanned,
                    "removed": sweep.removed,
                    "complete": sweep.complete,
                },
            }
        )
    else:
        rows: list[tuple[str, str, int | str]] = [
            (svc, tbl, n) for svc, counts in changed.items() for tbl, n in counts.items()
        ]
        swept = sweep.removed if sweep.complete else f"{sweep.removed} (not swept)"
        rows.append(("nats", "DLQ stream (messages)", swept))
        stdout().print(table(f"Erased client {client_id}", ["service", "table", "rows"], rows))
    if problem:
        # Rerunning is safe: the databases have nothing left to erase, the stream is swept.
        fail(
            f"the databases are erased, but the DLQ stream was not swept ({escape(problem[0])}): "
            f"{sweep.removed} message(s) naming the client removed before that. Run "
            f"`counselctl clients erase {client_id} --yes` again once NATS answers.",
            code=STREAM_LEFT,
        )
    stderr().print(
        "JetStream keeps the client's past events (ids and codes only) until they age out."
    )
