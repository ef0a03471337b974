"""`audit_batch.record`: entries that arrive while one insert runs share the next insert, each
caller learns its own entry's fate, and one bad entry fails only itself."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import asyncpg
import pytest

from counseling_shared import audit_batch
from counseling_shared.audit import Actor, AuditEntry


class FakePool:
    """Records each insert's request ids; an insert holding `bad` fails, like a constraint."""

    def __init__(self, bad: str = "") -> None:
        self.inserts: list[list[str]] = []
        self.bad = bad
        self.release = asyncio.Event()
        self.release.set()

    async def execute(self, query: str, *args: Any) -> str:
        request_ids: list[str] = args[8]
        await self.release.wait()
        if self.bad in request_ids:
            raise asyncpg.CheckViolationError("bad entry")
        self.inserts.append(request_ids)
        return "INSERT"


def entry(request_id: str) -> AuditEntry:
    return AuditEntry(
        actor=Actor("key", "k1"),
        action="get_client",
        resource="clients",
        resource_id=None,
        site_id=None,
        client_id=None,
        request_id=request_id,
        status=200,
    )


def as_pool(fake: FakePool) -> asyncpg.Pool[Any]:
    return cast("asyncpg.Pool[Any]", fake)


async def test_one_at_a_time_each_entry_is_its_own_insert() -> None:
    pool = FakePool()
    for n in range(3):
        await audit_batch.record(as_pool(pool), entry(f"r{n}"))
    assert pool.inserts == [["r0"], ["r1"], ["r2"]]


async def test_entries_arriving_during_an_insert_share_the_next_one() -> None:
    pool = FakePool()
    pool.release.clear()
    first = asyncio.create_task(audit_batch.record(as_pool(pool), entry("first")))
    await asyncio.sleep(0.01)  # its insert is running (held)
    later = [
        asyncio.create_task(audit_batch.record(as_pool(pool), entry(f"r{n}"))) for n in range(5)
    ]
    await asyncio.sleep(0.01)
    pool.release.set()
    await asyncio.wait_for(asyncio.gather(first, *later), timeout=1.0)
    assert pool.inserts == [["first"], ["r0", "r1", "r2", "r3", "r4"]]


async def test_a_bad_entry_fails_alone_and_the_others_are_written() -> None:
    pool = FakePool(bad="r2")
    results = await asyncio.wait_for(
        asyncio.gather(
            *(audit_batch.record(as_pool(pool), entry(f"r{n}")) for n in range(4)),
            return_exceptions=True,
        ),
        timeout=1.0,
    )
    assert [type(r).__name__ for r in results] == [
        "NoneType",
        "NoneType",
        "CheckViolationError",
        "NoneType",
    ]
    assert sorted(r for insert in pool.inserts for r in insert) == ["r0", "r1", "r3"]


async def test_a_caller_given_up_on_does_not_stop_the_others_entries() -> None:
    pool = FakePool()
    pool.release.clear()
    waits = [
        asyncio.create_task(audit_batch.record(as_pool(pool), entry(f"r{n}"))) for n in range(3)
    ]
    await asyncio.sleep(0.01)
    waits[0].cancel()
    pool.release.set()
    await asyncio.wait_for(asyncio.gather(*waits[1:]), timeout=1.0)
    with pytest.raises(asyncio.CancelledError):
        await waits[0]
    assert pool.inserts == [["r0", "r1", "r2"]]  # the given-up request's entry too
