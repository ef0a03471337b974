"""`counselctl streams` and `counselctl streams ensure`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from counseling_shared.jetstream import STREAMS, ensure_streams
from opsctl.commands.common import JsonOption, NatsUrlOption, jetstream, run
from opsctl.console import print_json, stdout, table
from opsctl.streams import StreamReport, stream_reports

app = typer.Typer(
    help="Streams and consumers: report them, or declare the streams (operator).",
    invoke_without_command=True,
)


async def _reports(url: str | None) -> list[StreamReport]:
    async with jetstream(url) as js:
        return await stream_reports(js)


async def _ensure(url: str | None, replicas: int) -> None:
    async with jetstream(url) as js:
        await ensure_streams(js, replicas=replicas)


@app.command()
def ensure(
    nats_url: NatsUrlOption = None,
    replicas: Annotated[
        int,
        typer.Option(
            min=1, max=5, envvar="STREAM_REPLICAS", help="Replicas of each stream (3 on a cluster)."
        ),
    ] = 1,
) -> None:
    """Create each stream, or bring it to the suite's configuration. With an authenticated
    bus only the operator may (`NATS_NKEY_SEED_FILE` = its seed); services wait for this."""
    run(_ensure(nats_url, replicas))
    stdout().print(f"streams ensured: {', '.join(spec.name for spec in STREAMS)}")


@app.callback()
def streams(
    ctx: typer.Context, nats_url: NatsUrlOption = None, as_json: JsonOption = False
) -> None:
    """Each stream's messages, bytes and sequences; each consumer's lag (pending), ack pending,
    redeliveries and last activity."""
    if ctx.invoked_subcommand is not None:
        return
    reports = run(_reports(nats_url))
    if as_json:
        print_json([asdict(r) for r in reports])
        return
    out = stdout()
    out.print(
        table(
            "Streams",
            ["stream", "messages", "bytes", "first seq", "last seq", "consumers"],
            (
                [r.name, r.messages, r.bytes, r.first_seq, r.last_seq, len(r.consumers)]
                if r.exists
                else [r.name, "missing", None, None, None, None]
                for r in reports
            ),
        )
    )
    out.print(
        table(
            "Consumers",
            [
                "stream",
                "consumer",
                "pending",
                "ack pending",
                "redelivered",
                "waiting",
                "last active",
            ],
            (
                [
                    c.stream,
                    c.name,
                    c.pending,
                    c.ack_pending,
                    c.redelivered,
                    c.waiting,
                    c.last_active,
                ]
                for r in reports
                for c in r.consumers
            ),
        )
    )
