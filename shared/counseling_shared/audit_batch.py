"""Audit entries written together: while one insert runs, the entries that arrive meanwhile
wait and go in the next one (one statement, one commit for all of them).

Each caller still waits until its own entry is committed, or learns that it was not, exactly
as with a statement of its own: a read is answered only once its entry is in the trail. One
request at a time, every entry is its own insert as before; under load, many requests share
one round trip and one commit instead of paying one each.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from counseling_shared import audit
from counseling_shared.audit import AuditEntry

MAX_ENTRIES = 500
"""The most entries one insert carries; more wait for the next."""

_Waiting = list[tuple[AuditEntry, "asyncio.Future[None]"]]


class _Writer:
    """The entries waiting for one pool, and the task writing them. It exists only while
    entries are being written, so nothing outlives the pool it writes to."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self.pool = pool
        self.waiting: _Waiting = []

    async def drain(self, key: int) -> None:
        taken: _Waiting = []
        try:
            while self.waiting:
                taken, self.waiting = self.waiting[:MAX_ENTRIES], self.waiting[MAX_ENTRIES:]
                await _write(self.pool, taken)
                taken = []
        finally:
            # Nothing arrives between the last look and this (no await): no entry is left.
            del _writers[key]
            for _, done in taken + self.waiting:  # cancelled (shutdown): say so to the callers
                if not done.done():
                    done.set_exception(RuntimeError("the audit writer stopped"))


_writers: dict[int, _Writer] = {}  # by id(pool): a pool cannot be weakly referenced


async def record(pool: asyncpg.Pool[Any], entry: AuditEntry) -> None:
    """Write `entry`, with whatever other entries are waiting for the same pool; raises what
    writing it raised."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    writer = _writers.get(id(pool))
    if writer is None:
        writer = _writers[id(pool)] = _Writer(pool)
        writer.waiting.append((entry, done))
        # Started on the loop's next turn: the entries queued before then go with this one.
        _keep(loop.create_task(writer.drain(id(pool))))
    else:
        writer.waiting.append((entry, done))
    await done  # a caller given up on cancels only its own wait: the write goes on


_running: set[asyncio.Task[None]] = set()


def _keep(task: asyncio.Task[None]) -> None:
    """Hold a reference until the task ends (the loop keeps only weak ones)."""
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _write(pool: asyncpg.Pool[Any], waiting: _Waiting) -> None:
    try:
        await audit.record_many(pool, [entry for entry, _ in waiting])
    except Exception as exc:
        if len(waiting) == 1:
            _settle(waiting[0][1], exc)
            return
        # One bad entry must not fail the others: each is written alone.
        for entry, done in waiting:
            try:
                await audit.record(pool, entry)
            except Exception as alone:
                _settle(done, alone)
            else:
                _settle(done, None)
        return
    for _, done in waiting:
        _settle(done, None)


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
