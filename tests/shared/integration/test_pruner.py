"""Retention: old bookkeeping rows go in small batches; young or unsettled rows stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from counseling_shared.pruner import Pruner, PruneTarget, backbone_targets
from counseling_shared.settings import ServiceSettings

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


async def test_old_inbox_rows_are_deleted_in_batches_and_young_ones_kept(
    pool: asyncpg.Pool[Any],
) -> None:
    consumer = f"probe-{uuid4().hex[:8]}"
    await pool.executemany(
        "INSERT INTO inbox (consumer, event_id, received_at) VALUES ($1, $2, $3)",
        [(consumer, uuid4(), days_ago(120)) for _ in range(5)]
        + [(consumer, uuid4(), days_ago(10)) for _ in range(2)],
    )
    statements = 0

    class CountingPool:
        """The pool, counting the DELETE statements the pruner sends."""

        async def fetchval(self, query: str, *args: Any) -> Any:
            return await pool.fetchval(query, *args)

        async def execute(self, query: str, *args: Any) -> str:
            nonlocal statements
            statements += 1
            status: str = await pool.execute(query, *args)
            return status

    target = PruneTarget("inbox", f"consumer = '{consumer}' AND received_at < $1", timedelta(100))
    pruner = Pruner(CountingPool(), [target], batch_size=2)  # type: ignore[arg-type]

    assert await pruner.prune_once() == {"inbox": 5}
    assert statements == 3, "batches of 2: 2, 2, then 1 (the last, short one ends the round)"
    left = await pool.fetch("SELECT received_at FROM inbox WHERE consumer = $1", consumer)
    assert sorted(r["received_at"] for r in left) == [days_ago(10)] * 2


async def test_the_backbone_prunes_only_what_is_settled_and_old(pool: asyncpg.Pool[Any]) -> None:
    settings = ServiceSettings()  # the documented defaults
    old_published, old_pending, young_published = uuid4(), uuid4(), uuid4()
    await pool.executemany(
        """INSERT INTO outbox (event_id, stream, subject, payload, created_at, published_at)
           VALUES ($1, 'BOOKING', 'booking.x.Y', '\\x7b7d', $2, $3)""",
        [
            (old_published, days_ago(30), days_ago(30)),
            (old_pending, days_ago(30), None),  # never published: never pruned
            (young_published, days_ago(1), days_ago(1)),
        ],
    )
    redriven, reviewed, waiting = uuid4(), uuid4(), uuid4()
    await pool.executemany(
        """INSERT INTO dead_letters (consumer, stream, stream_seq, subject, event_id, reason,
               detail, deliveries, payload, created_at, redriven_at, reviewed_at)
           VALUES ('probe', 'BOOKING', $1, 'booking.x.Y', $2, 'handler_failed', '', 8, '\\x7b7d',
                   $3, $4, $5)""",
        [
            (90_001, redriven, days_ago(200), days_ago(60), None),
            (90_002, reviewed, days_ago(200), None, days_ago(60)),
            (90_003, waiting, days_ago(200), None, None),  # not handled yet: kept however old
        ],
    )
    old_key, young_key = f"k-{uuid4()}", f"k-{uuid4()}"
    await pool.executemany(
        """INSERT INTO idempotency_keys
               (principal, key, method, path, request_hash, status_code, created_at)
           VALUES ('probe', $1, 'POST', '/x', 'h', 201, $2)""",
        [(old_key, days_ago(2)), (young_key, NOW - timedelta(hours=1))],
    )

    pruner = Pruner(pool, backbone_targets(settings), batch_size=2)
    await pruner.prune_once()

    outbox = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM outbox")}
    assert old_published not in outbox
    assert {old_pending, young_published} <= outbox
    letters = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM dead_letters")}
    assert redriven not in letters
    assert reviewed not in letters
    assert waiting in letters
    keys = {r["key"] for r in await pool.fetch("SELECT key FROM idempotency_keys")}
    assert old_key not in keys
    assert young_key in keys
