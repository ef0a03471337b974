"""`counselctl dead-letters list | show | redrive | review`."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from nats.js import JetStreamContext
from rich.json import JSON
from rich.markup import escape

from opsctl import dead_letters as letters
from opsctl.commands.common import (
    DatabaseSchemaOption,
    DatabaseUrlOption,
    JsonOption,
    NatsUrlOption,
    ServiceOption,
    database,
    fail,
    jetstream,
    run,
)
from opsctl.config import Service
from opsctl.console import cell, print_json, progress, stderr, stdout, table
from opsctl.dead_letters import DeadLetter, Selection

if TYPE_CHECKING:
    from counseling_shared.db import Connection

app = typer.Typer(
    help="Messages a consumer gave up on: list, show, redrive, review.", no_args_is_help=True
)

ConsumerOption = Annotated[
    str | None, typer.Option("--consumer", "-c", help="Only this consumer (durable name).")
]
ReasonOption = Annotated[
    str | None,
    typer.Option(
        "--reason",
        "-r",
        help="Only this reason: malformed, unknown_type, unsupported_version, source_mismatch, "
        "rejected, handler_failed, unprocessable.",
    ),
]


def _summary(letter: DeadLetter) -> dict[str, Any]:
    found = asdict(letter)
    del found["payload"]
    return found


@app.command("list")
def list_(
    service: ServiceOption,
    consumer: ConsumerOption = None,
    reason: ReasonOption = None,
    waiting: Annotated[
        bool, typer.Option("--waiting", help="Only those neither redriven nor reviewed.")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many, oldest first.")] = 1000,
    database_url: DatabaseUrlOption = None,
    database_schema: DatabaseSchemaOption = None,
    as_json: JsonOption = False,
) -> None:
    """The service's dead letters, oldest first."""
    selection = Selection(consumer, reason, waiting, limit)

    async def work() -> list[DeadLetter]:
        async with database(service, database_url, database_schema) as conn:
            return await letters.list_dead_letters(conn, selection)

    found = run(work())
    if as_json:
        print_json([_summary(letter) for letter in found])
        return
    stdout().print(
        table(
            f"Dead letters of {service.value}",
            [
                "id",
                "consumer",
                "stream:seq",
                "subject",
                "event type",
                "reason",
                "deliveries",
                "dead-lettered",
                "redriven",
                "reviewed",
            ],
            (
                [
                    d.id,
                    d.consumer,
                    f"{d.stream}:{d.stream_seq}",
                    d.subject,
                    d.event_type,
                    d.reason,
                    d.deliveries,
                    d.created_at,
                    d.redriven_at,
                    d.reviewed_at,
                ]
                for d in found
            ),
        )
    )


@app.command()
def show(
    letter_id: Annotated[int, typer.Argument(metavar="ID", help="The dead letter's id.")],
    service: ServiceOption,
    database_url: DatabaseUrlOption = None,
    database_schema: DatabaseSchemaOption = None,
    as_json: JsonOption = False,
) -> None:
    """One dead letter: why it failed, its headers and its payload."""

    async def work() -> DeadLetter | None:
        async with database(service, database_url, database_schema) as conn:
            return await letters.get_dead_letter(conn, letter_id)

    letter = run(work())
    if letter is None:
        fail(f"{service.value} has no dead letter {letter_id}")
    if as_json:
        print_json(_summary(letter) | {"payload": letter.payload_json()})
        return
    out = stdout()
    out.print(
        table(
            f"Dead letter {letter.id} of {service.value}",
            ["field", "value"],
            [[k, v] for k, v in _summary(letter).items() if k not in ("headers", "detail")],
        )
    )
    out.print(f"[bold]detail:[/bold] {escape(letter.detail)}")
    out.print("[bold]headers:[/bold]")
    out.print(JSON(json.dumps(letter.headers)))
    out.print("[bold]payload:[/bold]")
    payload = letter.payload_json()
    out.print(JSON(json.dumps(payload)) if not isinstance(payload, str) else escape(payload))


@app.command()
def redrive(
    service: ServiceOption,
    letter_ids: Annotated[
        list[int] | None, typer.Argument(metavar="ID", help="Dead letters to redrive.")
    ] = None,
    all_: Annotated[
        bool,
        typer.Option("--all", help="Every dead letter not redriven yet (with the filters)."),
    ] = False,
    consumer: ConsumerOption = None,
    reason: ReasonOption = None,
    again: Annotated[
        bool, typer.Option("--again", help="Also redrive letters redriven before.")
    ] = False,
    database_url: DatabaseUrlOption = None,
    database_schema: DatabaseSchemaOption = None,
    nats_url: NatsUrlOption = None,
) -> None:
    """Hand dead letters back to the consumer that gave up on them, once its cause is fixed.

    The consumer's handler runs again through its inbox, so an event it already applied is
    skipped. A letter that fails again becomes a new dead letter. Named letters go all or
    none: an unknown id, or one redriven before (without --again), redrives none.
    """
    if bool(letter_ids) == all_:
        fail("name dead letter ids, or --all", code=2)
    if letter_ids and (consumer or reason):
        fail("--consumer and --reason go with --all", code=2)
    redriven = run(
        _redrive(
            service,
            list(dict.fromkeys(letter_ids or [])),  # an id named twice is redriven once
            all_,
            Selection(consumer, reason, not again),
            again,
            database_url,
            database_schema,
            nats_url,
        )
    )
    stderr().print(f"redriven {len(redriven)} dead letter(s) of {service.value}")
    for letter in redriven:
        stdout().print(f"{letter.id}\t{letter.consumer}\t{letter.event_type or '-'}")


async def _redrive(
    service: Service,
    letter_ids: list[int],
    all_: bool,
    selection: Selection,
    again: bool,
    database_url: str | None,
    database_schema: str | None,
    nats_url: str | None,
) -> list[DeadLetter]:
    async with database(service, database_url, database_schema) as conn:
        if all_:
            letter_ids = [d.id for d in await letters.list_dead_letters(conn, selection)]
        else:
            await _refuse_unless_redrivable(service, conn, letter_ids, again)
        async with jetstream(nats_url) as js:
            return await _redrive_each(service, conn, js, letter_ids, all_, again)


async def _refuse_unless_redrivable(
    service: Service, conn: Connection, letter_ids: list[int], again: bool
) -> None:
    """Named letters: all of them can be redriven, or none is (nothing half done)."""
    try:
        redriven_at = await letters.already_redriven(conn, letter_ids)
    except letters.NoSuchDeadLetter as exc:
        fail(f"{service.value} has {exc}: redrove none")
    before = sorted(i for i, at in redriven_at.items() if at is not None)
    if before and not again:
        if len(before) == 1:
            at = cell(redriven_at[before[0]])
            done = f"dead letter {before[0]} of {service.value} was already redriven at {at}"
        else:
            ids = ", ".join(map(str, before))
            done = f"dead letters {ids} of {service.value} were already redriven"
        fail(f"{done}: redrove none (--again redrives once more)")


async def _redrive_each(
    service: Service,
    conn: Connection,
    js: JetStreamContext,
    letter_ids: list[int],
    all_: bool,
    again: bool,
) -> list[DeadLetter]:
    done: list[DeadLetter] = []
    with progress() as bar:
        task = bar.add_task("redriving", total=len(letter_ids))
        for letter_id in letter_ids:
            try:
                done.append(await letters.redrive(conn, js, letter_id, again=again))
            except (letters.NoSuchDeadLetter, letters.AlreadyRedriven) as exc:
                # Another operator (or the pruner) got there since the check or the listing:
                # with --all nothing to do; named, say so and how far it went.
                if not all_:
                    fail(
                        f"{service.value}: {exc}; redrove {len(done)} of {len(letter_ids)}"
                        " before it"
                    )
            bar.advance(task)
    return done


@app.command()
def review(
    letter_ids: Annotated[
        list[int], typer.Argument(metavar="ID", help="Dead letters rightly refused.")
    ],
    service: ServiceOption,
    database_url: DatabaseUrlOption = None,
    database_schema: DatabaseSchemaOption = None,
) -> None:
    """Mark dead letters reviewed: rightly refused, never to be redriven.

    They leave `list --waiting` and `redrive --all`, and the pruner deletes them after
    PRUNE_DEAD_LETTERS_AFTER (30 days by default). All or none: an unknown id marks none.
    """

    async def work() -> list[int]:
        async with database(service, database_url, database_schema) as conn:
            try:
                return await letters.mark_reviewed(conn, letter_ids)
            except letters.NoSuchDeadLetter as exc:
                # All or none, as `redrive ID...`: a mistyped id changes nothing.
                fail(f"{service.value} has {exc}: marked none reviewed")

    marked = run(work())
    stderr().print(f"marked {len(marked)} dead letter(s) of {service.value} reviewed")
