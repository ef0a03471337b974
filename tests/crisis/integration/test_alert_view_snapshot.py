"""GET /alerts/{id} reads its alert, pages and timeline as of one instant."""

from typing import Any
from uuid import UUID, uuid4

import pytest

from crisis.adapters.alert_views import alert_view
from tests.crisis.integration.harness import Bus, RunningCrisis
from tests.crisis.integration.steps import flag, put_policy, register_staff

pytestmark = pytest.mark.integration


class _CommitsBetweenQueries:
    """A connection that lets another one commit a timeline step right after its first query."""

    def __init__(self, conn: Any, commit: Any) -> None:
        self._conn, self._commit, self._done = conn, commit, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def fetchrow(self, *args: Any) -> Any:
        row = await self._conn.fetchrow(*args)
        if not self._done:
            self._done = True
            await self._commit()
        return row


async def test_a_step_committed_while_the_alert_is_read_is_not_half_seen(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = uuid4()
    (member,) = await register_staff(bus, site, 1)
    await put_policy(crisis, site, [([member], "PT10M")])
    alert_id = UUID((await flag(crisis, site, uuid4()))["alert_id"])
    pool = crisis.runtime.db()

    async def commit_a_step() -> None:
        async with pool.acquire() as other:
            await other.execute(
                """INSERT INTO alert_timeline (alert_id, seq, at, kind)
                   SELECT $1, max(seq) + 1, now(), 'escalated' FROM alert_timeline
                   WHERE alert_id = $1""",
                alert_id,
            )

    async with pool.acquire() as conn:
        seen = await alert_view(_CommitsBetweenQueries(conn, commit_a_step), alert_id)  # type: ignore[arg-type]
        after = await alert_view(conn, alert_id)

    assert seen is not None
    assert after is not None
    assert "escalated" not in [s["kind"] for s in seen["timeline"]]
    assert [s["kind"] for s in after["timeline"]][-1] == "escalated"
