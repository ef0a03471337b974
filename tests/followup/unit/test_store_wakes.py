"""Where a scheduled follow-up's scheduler wake-up goes: with its row's statement on the write
path, apart (collected, one per channel) in a rebuild's batched writes."""

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from opentelemetry import trace
from opentelemetry.trace import SpanContext, TraceFlags

from counseling_shared.batched_writes import RecordedWrites
from counseling_shared.codes import FollowUpKind
from followup.adapters.postgres_store import TIMER_CHANNEL, PostgresFollowupStore
from followup.domain.followup import FollowUp, Status


def scheduled() -> FollowUp:
    return FollowUp(
        id=uuid4(),
        client_id=uuid4(),
        site_id=uuid4(),
        kind=FollowUpKind.REMINDER,
        due_at=datetime.now(UTC) + timedelta(days=1),
        status=Status.SCHEDULED,
        version=1,
    )


async def test_on_the_write_path_the_wake_goes_with_the_row() -> None:
    writes = RecordedWrites()
    await PostgresFollowupStore(writes.connection).save_followup(scheduled())

    [(statement, [row])] = writes._calls.items()
    assert "pg_notify" in statement
    assert row[-3] == TIMER_CHANNEL
    assert row[-1] is True  # this row's statement sends the NOTIFY
    assert writes.woken == set()


async def test_a_rebuilds_saves_leave_one_wake_per_channel_to_the_rebuild() -> None:
    writes = RecordedWrites()
    store = PostgresFollowupStore(writes.connection, wake_apart=True)
    for _ in range(3):
        await store.save_followup(scheduled())

    [(statement, rows)] = writes._calls.items()
    assert "pg_notify" not in statement  # the upsert alone, no NOTIFY per row
    assert len(rows) == 3
    assert all(len(row) == 23 for row in rows)  # the row's columns, nothing else
    assert writes.woken == {TIMER_CHANNEL}


def _in_a_trace() -> trace.Span:
    context = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace.NonRecordingSpan(context)


async def test_a_new_followup_row_carries_the_current_trace_or_the_one_kept_for_it() -> None:
    traced, rebuilt = RecordedWrites(), RecordedWrites()
    kept_for, not_kept = scheduled(), scheduled()
    kept = {
        kept_for.id: '{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}'
    }
    with trace.use_span(_in_a_trace()):
        await PostgresFollowupStore(traced.connection).save_followup(scheduled())
        rebuilding = PostgresFollowupStore(rebuilt.connection, kept_traces=kept)
        await rebuilding.save_followup(kept_for)
        await rebuilding.save_followup(not_kept)

    [[row]] = traced._calls.values()
    assert json.loads(row[19])["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    [rows] = rebuilt._calls.values()
    # A rebuild's rows: the trace kept for the follow-up, never the rebuild's own.
    assert [row[19] for row in rows] == [kept[kept_for.id], None]
