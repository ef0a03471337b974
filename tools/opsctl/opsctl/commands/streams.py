"""`counselctl streams`."""

from __future__ import annotations

from dataclasses import asdict

from opsctl.commands.common import JsonOption, NatsUrlOption, jetstream, run
from opsctl.console import print_json, stdout, table
from opsctl.streams import StreamReport, stream_reports


async def _reports(url: str | None) -> list[StreamReport]:
    async with jetstream(url) as js:
        return await stream_reports(js)


def streams(nats_url: NatsUrlOption = None, as_json: JsonOption = False) -> None:
    """Each stream's messages, bytes and sequences; each consumer's lag (pending), ack pending,
    redeliveries and last activity."""
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
