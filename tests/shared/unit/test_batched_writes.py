"""A rebuild's batches: one is written while the caller folds the next, never two at once on
the connection, in order, and a failed write is not lost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import pytest

from counseling_shared.batched_writes import Batches, RecordedWrites

# Code that wrote on the spot would wait for good on the slow connection: fail instead.
pytestmark = pytest.mark.timeout(5)

if TYPE_CHECKING:
    from counseling_shared.db import Connection


class _SlowConnection:
    """Each `executemany` waits until the test lets it finish; two at once is an error, as
    on an asyncpg connection."""

    def __init__(self) -> None:
        self.written: list[tuple[str, list[Sequence[Any]]]] = []
        self.busy = False
        self.go = asyncio.Event()
        self.fail: Exception | None = None

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        assert not self.busy, "another operation is in progress"
        self.busy = True
        try:
            await self.go.wait()
            if self.fail is not None:
                raise self.fail
            self.written.append((sql, list(args)))
        finally:
            self.busy = False


async def _save(batches: Batches, n: int) -> None:
    await batches.into.execute("INSERT INTO t VALUES ($1)", n)
    await batches.saved()


async def test_a_full_batch_is_written_while_the_next_is_saved() -> None:
    conn = _SlowConnection()
    progress: list[tuple[int, int]] = []
    async with Batches(
        cast("Connection", conn), every=2, total=4, progress=lambda *p: progress.append(p)
    ) as batches:
        await _save(batches, 1)
        await _save(batches, 2)
        batches.after_fetch()  # the reader fetched: the full batch takes the connection
        await asyncio.sleep(0)
        assert conn.busy
        await _save(batches, 3)  # folding goes on meanwhile
        await _save(batches, 4)
        batches.after_fetch()  # still being written: the next batch waits its turn
        assert conn.written == []
        waiting = asyncio.ensure_future(batches.before_fetch())
        await asyncio.sleep(0)
        assert not waiting.done()  # the reader waits for the connection
        conn.go.set()
        await waiting
        assert conn.written == [("INSERT INTO t VALUES ($1)", [(1,), (2,)])]
        assert progress == [(2, 4)]
    assert conn.written[1:] == [("INSERT INTO t VALUES ($1)", [(3,), (4,)])]
    assert progress == [(2, 4), (4, 4)]


async def test_the_batch_being_written_moves_while_the_caller_only_folds() -> None:
    conn = _SlowConnection()
    conn.go.set()
    async with Batches(cast("Connection", conn), every=2, total=66) as batches:
        await _save(batches, 1)
        await _save(batches, 2)
        batches.after_fetch()
        for n in range(3, 67):  # a fold awaits nothing that waits: it must give turns itself
            await _save(batches, n)
        assert conn.written == [("INSERT INTO t VALUES ($1)", [(1,), (2,)])]


async def test_no_batch_starts_before_the_reader_has_fetched() -> None:
    conn = _SlowConnection()
    async with Batches(cast("Connection", conn), every=1, total=2) as batches:
        await _save(batches, 1)
        await _save(batches, 2)
        await asyncio.sleep(0)
        assert not conn.busy  # the reader may still be fetching on the connection
        conn.go.set()
    assert conn.written == [("INSERT INTO t VALUES ($1)", [(1,), (2,)])]


async def test_a_failed_write_is_raised_at_the_next_fetch() -> None:
    conn = _SlowConnection()
    conn.fail = ValueError("constraint")
    conn.go.set()
    batches = Batches(cast("Connection", conn), every=1, total=2)
    await _save(batches, 1)
    batches.after_fetch()
    with pytest.raises(ValueError, match="constraint"):
        await batches.before_fetch()


async def _fold_failing_while_a_batch_is_written(conn: _SlowConnection) -> None:
    async with Batches(cast("Connection", conn), every=1, total=2) as batches:
        await _save(batches, 1)
        batches.after_fetch()
        await asyncio.sleep(0)
        assert conn.busy
        asyncio.get_running_loop().call_later(0.01, conn.go.set)
        raise RuntimeError("fold failed")


async def test_leaving_on_an_error_waits_for_the_batch_being_written() -> None:
    conn = _SlowConnection()
    with pytest.raises(RuntimeError, match="fold failed"):
        await _fold_failing_while_a_batch_is_written(conn)
    assert not conn.busy  # the transaction can be rolled back: the connection is free


async def test_recorded_calls_regroup_by_text_and_wakes_are_collected_not_recorded() -> None:
    writes = RecordedWrites()
    await writes.execute("INSERT INTO a VALUES ($1)", 1)
    await writes.execute("  SELECT pg_notify($1, '')", "timers")
    await writes.execute("INSERT INTO b VALUES ($1)", 2)
    await writes.execute("INSERT INTO a VALUES ($1)", 3)
    await writes.execute("  SELECT pg_notify($1, '')", "lanes")
    await writes.executemany("INSERT INTO b VALUES ($1)", [(4,), (5,)])

    assert writes.recorded == 5
    assert writes.woken == {"timers", "lanes"}
    assert writes.take() == {
        "INSERT INTO a VALUES ($1)": [(1,), (3,)],
        "INSERT INTO b VALUES ($1)": [(2,), (4,), (5,)],
    }
    assert writes.recorded == 0
    await writes.execute("  SELECT pg_notify($1, '')", "later")
    assert writes.take() == {}
    assert writes.woken == {"timers", "lanes", "later"}


async def test_statements_of_no_aggregate_are_written_too() -> None:
    """A rebuild's deletes, recorded before any save: with no aggregate at all (an empty
    store) they are still written when the batches end, and otherwise go first."""
    conn = _SlowConnection()
    conn.go.set()
    async with Batches(cast("Connection", conn), every=2, total=0) as batches:
        await batches.into.execute("DELETE FROM t")
    assert conn.written == [("DELETE FROM t", [()])]
    conn.written.clear()
    async with Batches(cast("Connection", conn), every=2, total=1) as batches:
        await batches.into.execute("DELETE FROM t")
        await _save(batches, 1)
    assert conn.written == [("DELETE FROM t", [()]), ("INSERT INTO t VALUES ($1)", [(1,)])]


class _Recorder:
    """What `run` sends to the connection, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, list[Sequence[Any]]]] = []

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        self.sent.append(("executemany", sql, list(args)))

    async def copy_records_to_table(
        self, table_name: str, *, records: Iterable[Sequence[Any]], columns: Sequence[str]
    ) -> None:
        self.sent.append(("copy", (table_name, tuple(columns)), list(records)))


async def test_copied_rows_go_in_one_copy_per_table_and_columns_at_their_first_place() -> None:
    writes = RecordedWrites()
    into = writes.connection
    await into.execute("INSERT INTO parent VALUES ($1)", 1)
    await into.copy_records_to_table("child", records=[(1, "a")], columns=("id", "v"))
    await into.copy_records_to_table("other", records=[(7,)], columns=("id",))
    await into.execute("INSERT INTO parent VALUES ($1)", 2)
    await into.copy_records_to_table("child", records=[(2, "b"), (3, "c")], columns=("id", "v"))
    await into.copy_records_to_table("child", records=[(4,)], columns=("id",))  # other columns
    assert writes.recorded == 7

    conn = _Recorder()
    await writes.flush(cast("Connection", conn))
    assert conn.sent == [
        ("executemany", "INSERT INTO parent VALUES ($1)", [(1,), (2,)]),
        ("copy", ("child", ("id", "v")), [(1, "a"), (2, "b"), (3, "c")]),
        ("copy", ("other", ("id",)), [(7,)]),
        ("copy", ("child", ("id",)), [(4,)]),
    ]
    assert writes.recorded == 0
