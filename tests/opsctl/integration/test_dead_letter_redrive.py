"""Poison → dead letter → the cause is fixed → `counselctl dead-letters redrive` → handled once,
by the same handler, through the same inbox."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from nats.js import JetStreamContext

from counseling_shared.clock import SystemClock
from counseling_shared.envelope import Envelope, wrap
from counseling_shared.events import IntegrationEvent, SessionCompleted
from counseling_shared.jetstream import DLQ_STREAM, ConsumerSpec, redrive_spec
from counseling_shared.service import Route, Runtime, ServiceDefinition
from counseling_shared.settings import ServiceSettings
from counseling_shared.unit_of_work import UnitOfWork
from tests.opsctl.integration.support import counselctl
from tests.shared.integration.support import eventually, session_completed

pytestmark = pytest.mark.integration

SPEC = ConsumerSpec(
    "probe-sessions",
    "BOOKING",
    ["booking.*.SessionCompleted"],
    max_deliver=2,
    backoff=(0.1,),
    ack_wait=2.0,
)


class Projection:
    """A handler whose table is "locked" until an operator fixes it."""

    def __init__(self) -> None:
        self.broken = True
        self.runs: Counter[UUID] = Counter()

    async def handle(self, uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        assert isinstance(event, SessionCompleted)
        self.runs[envelope.id] += 1
        if self.broken:
            raise RuntimeError("sessions_handled is locked")
        await uow.conn.execute(
            "INSERT INTO sessions_handled (event_id, appointment_id) VALUES ($1, $2)",
            envelope.id,
            event.appointment_id,
        )


@pytest.fixture(scope="module")
async def probe(database_url: str, nats_url: str) -> AsyncIterator[tuple[Runtime, Projection]]:
    projection = Projection()
    definition = ServiceDefinition(
        name="probe",
        settings=ServiceSettings(database_url=database_url, nats_url=nats_url, log_level="ERROR"),
        migrations_dir=Path(__file__).parent / "migrations",
        routes=[Route(SPEC, projection.handle)],
    )
    runtime = Runtime(definition, SystemClock())
    await runtime.start()
    try:
        yield runtime, projection
    finally:
        await runtime.stop()


async def _publish(runtime: Runtime) -> Envelope:
    event = session_completed(uuid4())
    envelope = wrap(event, source="booking", subject=event.appointment_id)
    await runtime.jetstream().publish(
        envelope.nats_subject, envelope.encode(), headers={"Nats-Msg-Id": str(envelope.id)}
    )
    return envelope


async def _letter_of(pool: asyncpg.Pool[Any], envelope: Envelope, stream: str) -> int | None:
    found: int | None = await pool.fetchval(
        "SELECT id FROM dead_letters WHERE event_id = $1 AND stream = $2", envelope.id, stream
    )
    return found


async def _handled(pool: asyncpg.Pool[Any], envelope: Envelope) -> int:
    found: int = await pool.fetchval(
        "SELECT count(*) FROM sessions_handled WHERE event_id = $1", envelope.id
    )
    return found


async def _redrive_drained(js: JetStreamContext) -> bool:
    info = await js.consumer_info(DLQ_STREAM, redrive_spec(SPEC).durable)
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


def _db(database_url: str) -> list[str]:
    return ["--service", "booking", "--database-url", database_url]


async def test_a_redriven_dead_letter_is_handled_once_by_the_same_handler(
    probe: tuple[Runtime, Projection], database_url: str, nats_url: str
) -> None:
    runtime, projection = probe
    pool, js = runtime.db(), runtime.jetstream()
    projection.broken = True
    first, second = await _publish(runtime), await _publish(runtime)
    first_id = await eventually(lambda: _letter_of(pool, first, "BOOKING"))
    await eventually(lambda: _letter_of(pool, second, "BOOKING"))

    listed = (await counselctl("dead-letters", "list", *_db(database_url), "--json")).json()
    shown = await counselctl("dead-letters", "show", str(first_id), *_db(database_url), "--json")
    projection.broken = False  # the operator fixes the cause
    # Named twice by mistake: redriven once, not refused halfway.
    redriven = await counselctl(
        "dead-letters", "redrive", str(first_id), str(first_id), *_db(database_url),
        "--nats-url", nats_url,
    )  # fmt: skip
    await eventually(lambda: _handled(pool, first))

    mine = [d for d in listed if d["event_id"] in (str(first.id), str(second.id))]
    assert [(d["consumer"], d["reason"], d["deliveries"]) for d in mine] == [
        ("probe-sessions", "handler_failed", 2)
    ] * 2
    assert shown.json()["payload"]["id"] == str(first.id)
    assert "sessions_handled is locked" in shown.json()["detail"]
    assert redriven.code == 0, redriven
    assert projection.runs[first.id] == 3  # two failed deliveries, then the redrive
    assert await pool.fetchval(
        "SELECT redriven_at IS NOT NULL FROM dead_letters WHERE id = $1", first_id
    )
    assert await _handled(pool, second) == 0, "only the named dead letter was redriven"

    # Redriving it once more changes nothing: the inbox has its event id.
    refused = await counselctl(
        "dead-letters", "redrive", str(first_id), *_db(database_url), "--nats-url", nats_url
    )
    forced = await counselctl(
        "dead-letters", "redrive", str(first_id), "--again", *_db(database_url),
        "--nats-url", nats_url,
    )  # fmt: skip
    await eventually(lambda: _redrive_drained(js))

    assert refused.code == 1
    assert "already redriven" in refused.stderr
    assert forced.code == 0, forced
    assert await _handled(pool, first) == 1
    assert projection.runs[first.id] == 3

    # --all takes the rest.
    everything = await counselctl(
        "dead-letters", "redrive", "--all", *_db(database_url), "--nats-url", nats_url
    )
    await eventually(lambda: _handled(pool, second))
    waiting = await counselctl("dead-letters", "list", "--waiting", *_db(database_url), "--json")

    assert everything.code == 0, everything
    assert await _handled(pool, second) == 1
    assert waiting.json() == []


async def test_a_redrive_that_fails_again_is_a_new_dead_letter_on_its_original_subject(
    probe: tuple[Runtime, Projection], database_url: str, nats_url: str
) -> None:
    runtime, projection = probe
    pool = runtime.db()
    projection.broken = True
    envelope = await _publish(runtime)
    first_id = await eventually(lambda: _letter_of(pool, envelope, "BOOKING"))

    await counselctl(
        "dead-letters", "redrive", str(first_id), *_db(database_url), "--nats-url", nats_url
    )
    again_id = await eventually(lambda: _letter_of(pool, envelope, DLQ_STREAM))
    again = await pool.fetchrow("SELECT * FROM dead_letters WHERE id = $1", again_id)
    projection.broken = False
    fixed = await counselctl(
        "dead-letters", "redrive", str(again_id), *_db(database_url), "--nats-url", nats_url
    )
    await eventually(lambda: _handled(pool, envelope))

    assert again is not None
    assert again["consumer"] == SPEC.durable
    assert again["subject"] == envelope.nats_subject
    assert again["reason"] == "handler_failed"
    assert fixed.code == 0, fixed
    assert await _handled(pool, envelope) == 1
    assert projection.runs[envelope.id] == 5  # 2 + 2 failed, then the second redrive


async def test_a_reviewed_dead_letter_leaves_the_waiting_list_and_is_not_redriven_by_all(
    probe: tuple[Runtime, Projection], database_url: str, nats_url: str
) -> None:
    runtime, projection = probe
    pool = runtime.db()
    projection.broken = True
    envelope = await _publish(runtime)
    letter_id = await eventually(lambda: _letter_of(pool, envelope, "BOOKING"))

    reviewed = await counselctl("dead-letters", "review", str(letter_id), *_db(database_url))
    waiting = await counselctl("dead-letters", "list", "--waiting", *_db(database_url), "--json")
    projection.broken = False
    everything = await counselctl(
        "dead-letters", "redrive", "--all", *_db(database_url), "--nats-url", nats_url
    )

    assert reviewed.code == 0, reviewed
    assert await pool.fetchval("SELECT reviewed_at FROM dead_letters WHERE id = $1", letter_id)
    assert letter_id not in [letter["id"] for letter in waiting.json()]
    assert everything.code == 0, everything
    assert str(letter_id) not in everything.stdout.split()
    assert await _handled(pool, envelope) == 0


async def _stored_letter(pool: asyncpg.Pool[Any], *, redriven: bool = False) -> int:
    """A dead letter written as the consumer would: refusals need no poison delivery."""
    letter_id: int = await pool.fetchval(
        """INSERT INTO dead_letters (consumer, stream, stream_seq, subject, reason, detail,
                                     deliveries, payload, redriven_at)
           VALUES ('probe-refusals', 'BOOKING', nextval('dead_letters_id_seq') + 1000000,
                   'booking.x.SessionCompleted', 'handler_failed', 'probe', 2, '{}',
                   CASE WHEN $1 THEN now() END)
           RETURNING id""",
        redriven,
    )
    return letter_id


async def _redriven_at(pool: asyncpg.Pool[Any], letter_id: int) -> Any:
    return await pool.fetchval("SELECT redriven_at FROM dead_letters WHERE id = $1", letter_id)


async def test_redriving_named_letters_redrives_none_when_one_is_missing(
    probe: tuple[Runtime, Projection], database_url: str, nats_url: str
) -> None:
    pool = probe[0].db()
    there = await _stored_letter(pool)
    missing = there + 1000

    answer = await counselctl(
        "dead-letters", "redrive", str(there), str(missing), *_db(database_url),
        "--nats-url", nats_url,
    )  # fmt: skip

    assert answer.code == 1, answer
    assert answer.stderr.strip().splitlines() == [
        f"error: booking has no dead letter {missing}: redrove none"
    ], "the service is named, and no progress line is left behind"
    assert await _redriven_at(pool, there) is None


async def test_redriving_named_letters_redrives_none_when_one_was_redriven_before(
    probe: tuple[Runtime, Projection], database_url: str, nats_url: str
) -> None:
    pool = probe[0].db()
    waiting, before = await _stored_letter(pool), await _stored_letter(pool, redriven=True)

    answer = await counselctl(
        "dead-letters", "redrive", str(waiting), str(before), *_db(database_url),
        "--nats-url", nats_url,
    )  # fmt: skip

    assert answer.code == 1, answer
    (line,) = answer.stderr.strip().splitlines()
    assert line.startswith(f"error: dead letter {before} of booking was already redriven at ")
    assert line.endswith(": redrove none (--again redrives once more)")
    assert await _redriven_at(pool, waiting) is None


async def test_reviewing_named_letters_marks_none_when_one_is_missing(
    probe: tuple[Runtime, Projection], database_url: str
) -> None:
    pool = probe[0].db()
    first, second = await _stored_letter(pool), await _stored_letter(pool)
    missing = second + 1000

    refused = await counselctl(
        "dead-letters", "review", str(first), str(missing), str(missing + 1), *_db(database_url)
    )
    reviewed_after_refusal = await pool.fetchval(
        "SELECT count(*) FROM dead_letters WHERE id = ANY($1) AND reviewed_at IS NOT NULL",
        [first, second],
    )
    marked = await counselctl("dead-letters", "review", str(first), str(second), *_db(database_url))

    assert refused.code == 1, refused
    assert refused.stderr.strip().splitlines() == [
        f"error: booking has no dead letters {missing}, {missing + 1}: marked none reviewed"
    ], "one answer: no 'marked 1' before the refusal"
    assert reviewed_after_refusal == 0
    assert marked.code == 0, marked
    assert marked.stderr.strip() == "marked 2 dead letter(s) of booking reviewed"
