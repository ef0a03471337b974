"""`counselctl streams`: what each stream holds and how far behind each consumer is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo

from counseling_shared.jetstream import STREAMS


@dataclass(frozen=True)
class ConsumerReport:
    stream: str
    name: str
    pending: int  # messages not yet delivered: the consumer's lag
    ack_pending: int  # delivered, not yet acknowledged
    redelivered: int
    waiting: int  # pull requests waiting for messages (bound replicas)
    last_active: datetime | None


@dataclass(frozen=True)
class StreamReport:
    name: str
    exists: bool
    messages: int = 0
    bytes: int = 0
    first_seq: int = 0
    last_seq: int = 0
    consumers: list[ConsumerReport] = field(default_factory=list)


def consumer_report(stream: str, info: ConsumerInfo) -> ConsumerReport:
    moments = [s.last_active for s in (info.delivered, info.ack_floor) if s and s.last_active]
    return ConsumerReport(
        stream=stream,
        name=info.name,
        pending=info.num_pending or 0,
        ack_pending=info.num_ack_pending or 0,
        redelivered=info.num_redelivered or 0,
        waiting=info.num_waiting or 0,
        last_active=max(moments) if moments else None,
    )


STREAM_NAMES = tuple(spec.name for spec in STREAMS)


async def stream_reports(
    js: JetStreamContext, names: Sequence[str] = STREAM_NAMES
) -> list[StreamReport]:
    """One report per stream the suite declares (a missing stream is reported, not skipped)."""
    reports = []
    for name in names:
        try:
            info = await js.stream_info(name)
        except nats.js.errors.NotFoundError:
            reports.append(StreamReport(name=name, exists=False))
            continue
        consumers = sorted(
            (consumer_report(name, c) for c in await js.consumers_info(name)),
            key=lambda c: c.name,
        )
        state = info.state
        reports.append(
            StreamReport(
                name=name,
                exists=True,
                messages=state.messages,
                bytes=state.bytes,
                first_seq=state.first_seq,
                last_seq=state.last_seq,
                consumers=consumers,
            )
        )
    return reports
