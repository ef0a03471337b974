"""Many projection saves sent as one `executemany` per statement (for projection rebuilds).

A rebuild saves thousands of aggregates with the write path's own save functions; each
`execute` is a round trip. `RecordedWrites` stands in for the connection those functions are
given: it keeps every `execute` / `executemany` call, and `flush` then runs one `executemany`
per distinct SQL text, in the order each text was first seen.

That regrouping keeps the result of the calls one after the other only when no statement
depends on a later-seen statement's rows written after it. It holds for saves that each
write an aggregate's own rows with upserts, inserts, updates or deletes keyed by the
aggregate (a parent's statement is always seen before its children's, and calls of one text
keep their order); it does not for a save that reads (reads are refused here) or that deletes
and re-inserts the same child rows more than once before a flush. Each rebuild says why its
saves qualify.

A save may also call `copy_records_to_table(table, records=..., columns=...)`, for a plain
insert into a table the rebuild emptied: its rows go in by one binary COPY per table and
columns (a tenth of an `executemany`'s cost per row in PostgreSQL), at its place in that
order. COPY needs a binary codec for jsonb (`db.binary_jsonb`).

`SELECT pg_notify(...)` wakes are not batched: their channels are collected in `woken`, and
the caller wakes each channel once when it is done.

`Batches` writes one batch while the caller folds the next: the PostgreSQL backend and this
process work at once (two cores) instead of taking turns. The connection still runs one thing
at a time: a reader given to `eventstore.read_streams` as its `gate` waits for the batch being
written before it fetches, and a batch due meanwhile starts once the fetch is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from counseling_shared.db import Connection

_NOTIFY = "SELECT pg_notify("
_YIELD_EVERY = 16  # aggregates folded between two turns of the event loop while writing


class CopyInto(str):
    """Where recorded rows are copied (a table and its columns, in the rows' order), as a
    recorded call's key: its text is the COPY statement's, so it sorts and reads as one."""

    table: str
    columns: tuple[str, ...]

    def __new__(cls, table: str, columns: tuple[str, ...]) -> CopyInto:
        target = super().__new__(cls, f"COPY {table} ({', '.join(columns)}) FROM STDIN")
        target.table, target.columns = table, columns
        return target


class RecordedWrites:
    """A write-only stand-in connection whose statements run later, batched, on `conn`."""

    def __init__(self) -> None:
        self._calls: Recorded = {}  # insertion order: first seen
        self._targets: dict[tuple[str, tuple[str, ...]], CopyInto] = {}
        self.woken: set[str] = set()
        self.recorded = 0

    @property
    def connection(self) -> Connection:
        """This recorder, typed as what the save functions take (they only write)."""
        return cast("Connection", self)

    async def execute(self, sql: str, *args: Any) -> str:
        calls = self._calls.get(sql)
        if calls is None:  # a text not seen in this batch yet (lstrip copies the whole text)
            if sql.lstrip().startswith(_NOTIFY):
                self.woken.add(str(args[0]) if args else sql)
                return ""
            calls = self._calls[sql] = []
        calls.append(args)
        self.recorded += 1
        return ""

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        rows = list(args)
        if rows:
            self._calls.setdefault(sql, []).extend(rows)
            self.recorded += len(rows)

    async def copy_records_to_table(
        self, table_name: str, *, records: Iterable[Sequence[Any]], columns: Sequence[str]
    ) -> str:
        rows = list(records)
        if rows:
            key = (table_name, tuple(columns))
            target = self._targets.get(key)
            if target is None:
                target = self._targets[key] = CopyInto(*key)
            self._calls.setdefault(target, []).extend(rows)
            self.recorded += len(rows)
        return ""

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise TypeError("a batched save cannot read: its writes have not run yet")

    fetch = fetchrow = fetchval = _refuse

    def take(self) -> Recorded:
        """Every call recorded so far, forgotten here (later calls start a new batch)."""
        calls, self._calls, self.recorded = self._calls, {}, 0
        return calls

    async def flush(self, conn: Connection) -> None:
        """Run every recorded call on `conn` (one `executemany` per SQL text) and forget them."""
        await run(conn, self.take())


# SQL text (or COPY target) → each call's arguments (rows), first seen first.
Recorded = dict[str, list[Sequence[Any]]]


async def run(conn: Connection, calls: Recorded) -> None:
    """One `executemany` per SQL text, one COPY per target, in the order first seen."""
    for what, rows in calls.items():
        if isinstance(what, CopyInto):
            await conn.copy_records_to_table(what.table, records=rows, columns=what.columns)
        else:
            await conn.executemany(what, rows)


class Batches:
    """A rebuild's aggregates saved into one `RecordedWrites`, written every `every` aggregates
    (memory stays bounded) and whenever the caller ends a kind (so the next kind's rows find
    the rows they reference); `progress(done, total)` after each batch is written.

    A batch is written while the caller folds what the reader fetched next: at most one batch
    is being written and one filled at a time. Use it as `async with`: leaving writes what
    waits, and a rebuild that fails while a batch is being written waits for it before its
    transaction is rolled back. Give it to `read_streams` as its `gate` (and `fetch` as its
    `prefetch`): the cursor fetches only when no batch is being written."""

    def __init__(
        self,
        conn: Connection,
        *,
        every: int,
        total: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.writes = RecordedWrites()
        self.into = self.writes.connection  # what the save functions are given
        self.done = 0
        self._conn, self._every, self._total, self._progress = conn, every, total, progress
        self._pending = 0
        self._writing: asyncio.Task[None] | None = None
        # Events per fetch for `read_streams`: about one batch's, so that a batch is written
        # while the next one is folded rather than while a fraction of it is.
        self.fetch = 2 * every

    async def __aenter__(self) -> Batches:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if error is None:
            await self.flush()
            return
        # Already failing: wait for the batch on the connection, whatever it ends with.
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)
            self._writing = None

    async def saved(self) -> None:
        """One more aggregate saved into `into`. A full batch starts being written after the
        reader's next fetch (then the fold of what it fetched runs meanwhile): at most
        `every` aggregates and one fetch's worth wait in memory."""
        self.done += 1
        self._pending += 1
        if self._writing is not None and self._pending % _YIELD_EVERY == 0:
            # The fold never waits on anything: without a turn of the event loop now and
            # then, the batch being written would not move until the next fetch.
            await asyncio.sleep(0)

    async def flush(self) -> None:
        """Write what waits and wait until it is written (call it at the end of each kind)."""
        await self.before_fetch()
        # Statements of no aggregate too (a rebuild's deletes recorded before any save).
        if self._pending or self.writes.recorded:
            self._start()
            await self.before_fetch()

    async def before_fetch(self) -> None:
        """Wait until no batch is being written (the connection is free); raise its error."""
        writing, self._writing = self._writing, None
        if writing is not None:
            await writing

    def after_fetch(self) -> None:
        """The reader's fetch is done: a full batch may take the connection now."""
        if self._pending >= self._every and self._writing is None:
            self._start()

    def _start(self) -> None:
        calls, done = self.writes.take(), self.done
        self._pending = 0
        self._writing = asyncio.get_running_loop().create_task(self._write(calls, done))

    async def _write(self, calls: Recorded, done: int) -> None:
        await run(self._conn, calls)
        if self._progress is not None:
            self._progress(done, self._total)
