"""The event store against real PostgreSQL: optimistic appends and commit-order reading."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from counseling_shared.eventstore import (
    CommitPosition,
    ConcurrencyConflict,
    NewEvent,
    RecordedEvent,
    append,
    read_all,
    read_stream,
    read_streams,
    read_streams_json,
    stream_version,
)

pytestmark = pytest.mark.integration


def new_events(*types: str) -> list[NewEvent]:
    return [NewEvent(type=t, data={"n": i}, metadata={"by": "test"}) for i, t in enumerate(types)]


def stream_name() -> str:
    return f"appointment-{uuid4()}"


async def test_appended_events_read_back_in_version_order(pool: asyncpg.Pool[Any]) -> None:
    stream = stream_name()
    async with pool.acquire() as conn:
        first = await append(conn, stream, 0, new_events("Booked", "Rescheduled"))
        second = await append(conn, stream, 2, new_events("Completed"))
        read = await read_stream(conn, stream)
        tail = await read_stream(conn, stream, after_version=2)
        version = await stream_version(conn, stream)

    assert [e.version for e in read] == [1, 2, 3]
    assert [e.type for e in read] == ["Booked", "Rescheduled", "Completed"]
    assert [e.id for e in read] == [e.id for e in first + second]
    assert read[0].data == {"n": 0}
    assert read[0].metadata == {"by": "test"}
    assert [e.type for e in tail] == ["Completed"]
    assert version == 3


async def test_read_streams_gives_each_stream_of_a_kind_whole_and_in_order(
    pool: asyncpg.Pool[Any],
) -> None:
    kind = f"kind_{uuid4().hex[:8]}"  # the `_` must not match any character
    first, second = sorted(f"{kind}-{uuid4()}" for _ in range(2))
    async with pool.acquire() as conn:
        await append(conn, second, 0, new_events("A"))
        await append(conn, first, 0, new_events("A", "B"))
        await append(conn, second, 1, new_events("B", "C"))
        await append(conn, f"{kind.replace('_', 'x')}-{uuid4()}", 0, new_events("A"))
        await append(conn, f"other-{kind}-{uuid4()}", 0, new_events("A"))
        async with conn.transaction():
            streams = [s async for s in read_streams(conn, f"{kind}-", prefetch=2)]
            texts = [s async for s in read_streams_json(conn, f"{kind}-", prefetch=2)]

    assert [[(e.stream_id, e.version, e.type) for e in s] for s in streams] == [
        [(first, 1, "A"), (first, 2, "B")],
        [(second, 1, "A"), (second, 2, "B"), (second, 3, "C")],
    ]
    # The same streams with each event's data as its JSON text.
    assert [
        [(e.stream_id, e.version, e.type, json.loads(e.data_json), e.recorded_at) for e in s]
        for s in texts
    ] == [[(e.stream_id, e.version, e.type, e.data, e.recorded_at) for e in s] for s in streams]


async def test_a_stale_expected_version_is_a_concurrency_conflict(
    pool: asyncpg.Pool[Any],
) -> None:
    stream = stream_name()
    async with pool.acquire() as conn:
        await append(conn, stream, 0, new_events("Booked", "Rescheduled"))
        with pytest.raises(ConcurrencyConflict):
            await append(conn, stream, 1, new_events("Cancelled"))
        with pytest.raises(ConcurrencyConflict):
            await append(conn, stream, 0, new_events("Booked"))
        assert await stream_version(conn, stream) == 2


async def test_two_concurrent_appends_at_the_same_version_one_wins(
    pool: asyncpg.Pool[Any],
) -> None:
    stream = stream_name()
    both_in_transaction = asyncio.Barrier(2)

    async def writer(kind: str) -> list[RecordedEvent]:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT 1")
            await both_in_transaction.wait()
            recorded = await append(conn, stream, 0, new_events(kind))
            await asyncio.sleep(0.05)  # hold the transaction open while the other one tries
            return recorded

    results = await asyncio.gather(writer("BookedByA"), writer("BookedByB"), return_exceptions=True)

    winners = [r for r in results if isinstance(r, list)]
    losers = [r for r in results if isinstance(r, ConcurrencyConflict)]
    assert len(winners) == 1, results
    assert len(losers) == 1, results
    async with pool.acquire() as conn:
        stored = await read_stream(conn, stream)
    assert [e.id for e in stored] == [winners[0][0].id]


async def test_a_writer_blocked_by_an_uncommitted_append_loses_when_it_commits(
    pool: asyncpg.Pool[Any],
) -> None:
    # Both read version 0 (neither sees the other's uncommitted row): only the unique key
    # on (stream_id, version) can tell them apart.
    stream = stream_name()
    async with pool.acquire() as a, pool.acquire() as b:
        tx_a, tx_b = a.transaction(), b.transaction()
        await tx_a.start()
        await tx_b.start()
        a_committed = False
        try:
            await append(a, stream, 0, new_events("BookedByA"))
            blocked = asyncio.create_task(append(b, stream, 0, new_events("BookedByB")))
            await asyncio.sleep(0.2)
            assert not blocked.done(), "B should wait for A's row lock"
            await tx_a.commit()
            a_committed = True
            with pytest.raises(ConcurrencyConflict):
                await blocked
            # The conflict leaves B's transaction usable for its error path.
            assert await b.fetchval("SELECT 42") == 42
        finally:
            await tx_b.rollback()
            if not a_committed:
                await tx_a.rollback()


async def test_a_longer_append_that_loses_a_race_leaves_none_of_its_events(
    pool: asyncpg.Pool[Any],
) -> None:
    # A commits one event at version 1 while B waits to write versions 1 and 2: B's version 2
    # collides with nothing, so only taking it back keeps B's transaction free of it.
    stream = stream_name()
    async with pool.acquire() as a, pool.acquire() as b:
        tx_a, tx_b = a.transaction(), b.transaction()
        await tx_a.start()
        await tx_b.start()
        try:
            await append(a, stream, 0, new_events("BookedByA"))
            blocked = asyncio.create_task(append(b, stream, 0, new_events("Booked", "Moved")))
            await asyncio.sleep(0.2)
            await tx_a.commit()
            with pytest.raises(ConcurrencyConflict):
                await blocked
            seen_by_b = await read_stream(b, stream)
        finally:
            await tx_b.rollback()
    assert [e.type for e in seen_by_b] == ["BookedByA"]


async def test_read_all_never_skips_an_event_whose_transaction_commits_late(
    pool: asyncpg.Pool[Any],
) -> None:
    async with pool.acquire() as reader:
        start = await _end_of_log(reader)
        async with pool.acquire() as a, pool.acquire() as b:
            tx_a = a.transaction()
            await tx_a.start()
            try:
                [late] = await append(a, stream_name(), 0, new_events("StartedFirst"))
                async with b.transaction():
                    [early] = await append(b, stream_name(), 0, new_events("CommittedFirst"))
                assert early.position > late.position

                seen_while_open = await read_all(reader, start)
                assert early.id not in {e.id for e in seen_while_open}, (
                    "read_all returned an event past one whose transaction is still open"
                )
                cursor = _advance(start, seen_while_open)
            finally:
                await tx_a.commit()

        seen_after = await read_all(reader, cursor)

    assert [e.id for e in seen_after][:2] == [late.id, early.id]


async def test_read_all_follows_commit_order_with_a_cursor(pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        start = await _end_of_log(conn)
        written = []
        for kind in ("One", "Two", "Three"):
            written += await append(conn, stream_name(), 0, new_events(kind))
        first_page = await read_all(conn, start, limit=2)
        second_page = await read_all(conn, _advance(start, first_page))

    assert [e.id for e in first_page + second_page] == [e.id for e in written]


async def _end_of_log(conn: asyncpg.pool.PoolConnectionProxy[Any]) -> CommitPosition:
    cursor = CommitPosition(0, 0)
    while page := await read_all(conn, cursor):
        cursor = _advance(cursor, page)
    return cursor


def _advance(cursor: CommitPosition, page: list[RecordedEvent]) -> CommitPosition:
    return CommitPosition(page[-1].txid, page[-1].position) if page else cursor


async def test_read_streams_parses_the_json_as_the_connection_does(
    pool: asyncpg.Pool[Any],
) -> None:
    stream = f"kind{uuid4().hex[:8]}-{uuid4()}"
    data = {
        "floats": [0.1, 1e300, -2.5e-300, 5e-324, 1.7976931348623157e308, -0.0],
        "big": 12345678901234567890123456789,
        "text": '\u00e9\u4e2d\U0001f600 "quoted" \\ \n',
        "nested": {"list": [1, None, True, False, {"k": []}]},
    }
    event = NewEvent(type="A", data=data, metadata={"actor": {"id": "x", "n": 0.3}})
    async with pool.acquire() as conn:
        await append(conn, stream, 0, [event])
        [expected] = await read_stream(conn, stream)  # the connection's json.loads
        async with conn.transaction():
            [[replayed]] = [s async for s in read_streams(conn, stream)]
            [[bare]] = [s async for s in read_streams(conn, stream, metadata=False)]

    assert replayed == expected
    assert repr(replayed.data) == repr(expected.data)  # -0.0 and the big int too
    assert bare.data == expected.data
    assert bare.metadata == {}


class _Writer:
    """A gate that writes on the reader's connection between its fetches, as a rebuild's
    batched writes do."""

    def __init__(self, conn: Any, table: str) -> None:
        self.conn, self.table = conn, table
        self.calls: list[str] = []

    async def before_fetch(self) -> None:
        self.calls.append("before")
        await self.conn.execute(f"INSERT INTO {self.table} VALUES ({len(self.calls)})")

    def after_fetch(self) -> None:
        self.calls.append("after")


async def test_read_streams_lets_its_gate_use_the_connection_between_fetches(
    pool: asyncpg.Pool[Any],
) -> None:
    kind = f"gate{uuid4().hex[:8]}"
    first, second = sorted(f"{kind}-{uuid4()}" for _ in range(2))
    async with pool.acquire() as conn:
        await append(conn, first, 0, new_events("A", "B", "C"))
        await append(conn, second, 0, new_events("A", "B"))
        async with conn.transaction():
            await conn.execute("CREATE TEMPORARY TABLE gate_writes (n int) ON COMMIT DROP")
            gate = _Writer(conn, "gate_writes")
            streams = [s async for s in read_streams(conn, f"{kind}-", prefetch=2, gate=gate)]
            written = await conn.fetchval("SELECT count(*) FROM gate_writes")

    assert [[(e.stream_id, e.version) for e in s] for s in streams] == [
        [(first, 1), (first, 2), (first, 3)],
        [(second, 1), (second, 2)],
    ]
    # Before the cursor is opened, then around each of the three fetches of two events.
    assert gate.calls == ["before", *["before", "after"] * 3]
    assert written == 4
