"""The claim benchmark on a real PostgreSQL: each scheduler's claim is timed, explained and
read through its due-time index, on small tables (the benchmark's sizes are only larger)."""

from __future__ import annotations

import pytest

from bench.claims import TABLES, Table, measure_table, median_pages
from devstack.handles import PostgresHandle

pytestmark = pytest.mark.integration

DUE_INDEXES = {
    "followup: followups": "followups_scheduled_due",
    "crisis: escalation_timers": "escalation_timers_due",
    "notify: notifications": "notifications_due",
    # One probe a subscription for its head, not a read of every pending delivery.
    "notify: webhook_deliveries, heads (webhook worker's claim)": "webhook_deliveries_queue",
    "notify: webhook_deliveries, heads (webhook worker's next due time)": (
        "webhook_deliveries_queue"
    ),
}


def _due_index(table: Table) -> str:
    [index] = [index for prefix, index in DUE_INDEXES.items() if table.name.startswith(prefix)]
    return index


@pytest.mark.parametrize("table", TABLES, ids=[table.name for table in TABLES])
async def test_each_claim_is_timed_and_explained_with_the_arguments_the_scheduler_sends(
    postgres_server: PostgresHandle, table: Table
) -> None:
    cost = await measure_table(postgres_server.url(), table, large=12_000, claims=5, explained=5)

    assert _due_index(table) in cost.index
    assert len(cost.small) == len(cost.large) == 5
    assert len(cost.server_small) == len(cost.server_large) == 5
    for in_server in cost.server_small + cost.server_large:
        assert 0 < in_server.milliseconds < 1_000
        assert in_server.pages > 0
    assert cost.ratio > 0
    # The pages of the due rows, not of the 12,000 waiting: a read of every pending webhook
    # delivery for their heads touched about 10,000 here.
    assert median_pages(cost.server_large) < 1_000
