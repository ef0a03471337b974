"""`counselctl clients erase`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID, uuid4

import typer

from opsctl import erasure
from opsctl.commands.common import JsonOption, database, fail, run
from opsctl.console import print_json, stderr, stdout, table

app = typer.Typer(help="A client's data across the services.", no_args_is_help=True)


@app.command()
def erase(
    client_id: Annotated[UUID, typer.Argument(help="The client to erase.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: the erasure cannot be undone.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Erase a client on request: booking keeps a tombstone (no name, contact details or
    notes), followup, notify and crisis delete what they hold. Refused while the client has an
    unresolved crisis alert. Each service's database comes from `<SERVICE>_DATABASE_URL` or
    `DATABASE_URL` (as for every command). Each service's audit trail records the erasure
    (actor `operator`, your login name; action `erase_client`)."""
    if not yes:
        fail("erasing a client cannot be undone: pass --yes to go ahead", code=2)
    changed: dict[str, dict[str, int]] = {}
    request_id = uuid4().hex  # one id for the entries of this erasure in every service

    async def work() -> None:
        for service in erasure.ORDER:
            hook = erasure.erase_hook(service)
            async with database(service, None, None) as conn:
                try:
                    changed[service.value] = dict(await hook(conn, client_id))
                except ValueError as exc:  # a refusal, before anything changed there
                    await erasure.record(conn, client_id, request_id, status=409)
                    done = ", ".join(changed) or "nothing"
                    fail(f"{service.value} refused: {exc} (already erased: {done})")
                await erasure.record(conn, client_id, request_id, status=200)

    run(work())
    if as_json:
        print_json({"client_id": str(client_id), "erased": changed})
        return
    rows = [(svc, tbl, n) for svc, counts in changed.items() for tbl, n in counts.items()]
    stdout().print(table(f"Erased client {client_id}", ["service", "table", "rows"], rows))
    stderr().print(
        "JetStream keeps the client's past events (ids and codes only) until they age out."
    )
