"""Retention: old bookkeeping rows are deleted in small batches, on a schedule (every service).

The backbone prunes its own tables (inbox, published outbox rows, idempotency keys, reviewed
dead letters); a service adds its own targets (settled timers, old delivery attempts) through
`ServiceDefinition.prune_targets`. Each batch is its own short statement, and rows another
transaction holds are skipped (`SKIP LOCKED`), so pruning never blocks the write path and
several replicas may prune at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from counseling_shared.clock import Clock, SystemClock
from counseling_shared.db import DATABASE_ERRORS
from counseling_shared.inbox_holds import INBOX_HOLD_LAPSE
from counseling_shared.logs import get_logger
from counseling_shared.metrics import PRUNED_ROWS
from counseling_shared.settings import ServiceSettings

log = get_logger(__name__)


@dataclass(frozen=True)
class PruneTarget:
    """Rows of `table` matching `condition` are deleted once older than `keep`.

    `condition` is SQL over the table's columns where `$1` is the cut-off instant (now - keep),
    e.g. `published_at < $1`. Both are our own code, never input. `clocked`: "now" is the
    service's clock, for instants that came from events (an appointment's start), not ones
    the database stamped.
    """

    table: str
    condition: str
    keep: timedelta
    clocked: bool = False


def backbone_targets(settings: ServiceSettings) -> list[PruneTarget]:
    """What every service database holds and may forget (README: retention settings)."""
    return [
        # Longer than the streams keep messages (90 days): a redelivery always finds its row.
        PruneTarget("inbox", "received_at < $1", settings.prune_inbox_after),
        PruneTarget("inbox_failures", "failed_at < $1", settings.prune_inbox_after),
        # Lapsed holds only (their message never came back): a live one is deleted when settled.
        PruneTarget("inbox_holds", "due < $1", INBOX_HOLD_LAPSE + timedelta(hours=1)),
        PruneTarget("outbox", "published_at < $1", settings.prune_outbox_after),
        # Never before the key's promised lifetime, whichever of the two settings is longer.
        PruneTarget(
            "idempotency_keys",
            "created_at < $1",
            max(settings.prune_idempotency_after, settings.idempotency_key_ttl),
        ),
        # Dead letters only once handled: redriven, or marked reviewed by an operator.
        PruneTarget(
            "dead_letters",
            "coalesce(redriven_at, reviewed_at) < $1",
            settings.prune_dead_letters_after,
        ),
        PruneTarget("outbox_dead_letters", "reviewed_at < $1", settings.prune_dead_letters_after),
    ]


class Pruner:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        targets: Sequence[PruneTarget],
        *,
        batch_size: int = 500,
        interval: float = 600.0,
        pause: float = 0.05,
        clock: Clock | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock or SystemClock()
        self._targets = list(targets)
        self._batch_size = batch_size
        self._interval = interval
        self._pause = pause

    async def run(self) -> None:
        while True:
            try:
                await self.prune_once()
            except DATABASE_ERRORS as exc:
                # The database is away (or a statement timed out): try again next round.
                log.warning("prune_failed", error=repr(exc))
            await asyncio.sleep(self._interval)

    async def prune_once(self) -> dict[str, int]:
        """Delete every target's old rows, batch by batch; return how many per table."""
        deleted: dict[str, int] = {}
        for target in self._targets:
            deleted[target.table] = deleted.get(target.table, 0) + await self._prune(target)
        if any(deleted.values()):
            log.info("pruned", **{table: n for table, n in deleted.items() if n})
        return deleted

    async def _prune(self, target: PruneTarget) -> int:
        # The rows were stamped by the database's clock (`DEFAULT now()`), so ages are measured
        # on it too; an injected service clock (tests run far in the future) must not age them.
        # A clocked target's instants came from the service's clock: measured on that.
        if target.clocked:
            cutoff = self._clock.now() - target.keep
        else:
            cutoff = await self._pool.fetchval("SELECT now() - $1::interval", target.keep)
        total = 0
        while True:
            status = await self._pool.execute(
                f"""DELETE FROM {target.table} WHERE ctid = ANY(ARRAY(
                        SELECT ctid FROM {target.table} WHERE {target.condition}
                        LIMIT $2 FOR UPDATE SKIP LOCKED))""",
                cutoff,
                self._batch_size,
            )
            count = int(status.split()[-1])
            total += count
            PRUNED_ROWS.labels(target.table).inc(count)
            if count < self._batch_size:
                return total
            await asyncio.sleep(self._pause)  # let the write path in between batches
