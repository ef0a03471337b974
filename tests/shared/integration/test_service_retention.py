"""Each service's pruner runs against that service's real tables.

The pruner logs a failing statement and tries again next round (`prune_failed`), so a target
naming a column or status its table does not have would never prune anything, quietly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import booking.bootstrap
import crisis.bootstrap
import followup.bootstrap
import notify.bootstrap
from counseling_shared.db import connect, create_pool
from counseling_shared.migrations import apply_migrations
from counseling_shared.pruner import Pruner, backbone_targets
from counseling_shared.service import ServiceDefinition

pytestmark = pytest.mark.integration

DEFINITIONS: dict[str, Callable[[], ServiceDefinition]] = {
    "booking": booking.bootstrap.definition,
    "followup": followup.bootstrap.definition,
    "notify": notify.bootstrap.definition,
    "crisis": crisis.bootstrap.definition,
}


@pytest.mark.parametrize("service", list(DEFINITIONS), ids=list(DEFINITIONS))
async def test_every_prune_target_of_a_service_runs_on_its_tables(
    database_url: str, service: str
) -> None:
    definition = DEFINITIONS[service]()
    conn = await connect(database_url, schema=service)
    try:
        await apply_migrations(conn, definition.migrations_dir, schema=service)
    finally:
        await conn.close()
    targets = [*backbone_targets(definition.settings), *definition.prune_targets]
    pool = await create_pool(database_url, schema=service, max_size=2)
    try:
        # Raises on a statement the table cannot run (an unknown column, a type mismatch).
        deleted: dict[str, Any] = await Pruner(pool, targets).prune_once()
    finally:
        await pool.close()

    assert set(deleted) == {t.table for t in targets}
