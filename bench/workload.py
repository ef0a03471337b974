"""The events both benchmarks move: SessionCompleted envelopes spread over a few sites."""

import contextlib
from datetime import UTC, datetime
from uuid import uuid4

import nats.js.errors
from nats.js import JetStreamContext

from counseling_shared.codes import GoalHorizon, RiskLevel
from counseling_shared.envelope import Envelope, wrap
from counseling_shared.events import SessionCompleted
from counseling_shared.jetstream import StreamSpec, stream_config

SOURCE = "bench"
STREAM = StreamSpec("BENCH", ["bench.>"])  # the suite's stream settings: file, 2 min dedup


def sessions_completed(count: int, sites: int = 8) -> list[Envelope]:
    site_ids = [uuid4() for _ in range(sites)]
    now = datetime.now(UTC)
    return [
        wrap(
            SessionCompleted(
                appointment_id=(appointment_id := uuid4()),
                site_id=site_ids[i % sites],
                client_id=uuid4(),
                counselor_id=uuid4(),
                completed_at=now,
                goal_horizon=GoalHorizon.SHORT_TERM,
                risk_level=RiskLevel.NONE,
            ),
            source=SOURCE,
            subject=appointment_id,
        )
        for i in range(count)
    ]


async def fresh_stream(js: JetStreamContext) -> None:
    """An empty BENCH stream, so each measurement starts from the same place."""
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_stream(STREAM.name)
    await js.add_stream(stream_config(STREAM, replicas=1))


async def stored(js: JetStreamContext) -> int:
    return (await js.stream_info(STREAM.name)).state.messages
