"""`counselctl clients erase` records the erasure in every service's audit trail, with the
operator as its actor (here the four services' tables live in four schemas of one database)."""

from __future__ import annotations

import asyncio
import getpass
import json
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from typer.testing import CliRunner

from booking.bootstrap import MIGRATIONS as BOOKING_MIGRATIONS
from counseling_shared.db import connect
from counseling_shared.migrations import apply_migrations
from crisis.bootstrap import MIGRATIONS as CRISIS_MIGRATIONS
from followup.bootstrap import MIGRATIONS as FOLLOWUP_MIGRATIONS
from notify.bootstrap import MIGRATIONS as NOTIFY_MIGRATIONS
from opsctl.cli import app

pytestmark = pytest.mark.integration

SCHEMAS: dict[str, Path] = {
    "booking": BOOKING_MIGRATIONS,
    "followup": FOLLOWUP_MIGRATIONS,
    "notify": NOTIFY_MIGRATIONS,
    "crisis": CRISIS_MIGRATIONS,
}


async def _entries(url: str, schema: str, client_id: UUID) -> list[tuple[str, str, str, int]]:
    conn = await connect(url, schema=schema)
    try:
        rows = await conn.fetch(
            "SELECT actor_kind, actor_id, action, status FROM audit WHERE client_id = $1",
            client_id,
        )
    finally:
        await conn.close()
    return [(r["actor_kind"], r["actor_id"], r["action"], r["status"]) for r in rows]


async def _migrated(url: str) -> None:
    for schema, migrations in SCHEMAS.items():
        conn = await connect(url, schema=schema)
        try:
            await apply_migrations(conn, migrations, schema=schema)
        finally:
            await conn.close()


def test_an_erasure_is_in_every_services_audit_trail_with_the_operator(
    database_url: str,
) -> None:
    asyncio.run(_migrated(database_url))
    env = {f"{s.upper()}_DATABASE_URL": database_url for s in SCHEMAS}
    env |= {f"{s.upper()}_DATABASE_SCHEMA": s for s in SCHEMAS}
    client_id = uuid4()

    # In process (the command is the same; a new process would only add its start-up time).
    answer = CliRunner().invoke(
        app, ["clients", "erase", str(client_id), "--yes", "--json"], env=env
    )

    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.stdout)["client_id"] == str(client_id)
    operator = ("operator", getpass.getuser(), "erase_client", 200)
    for schema in SCHEMAS:
        assert asyncio.run(_entries(database_url, schema, client_id)) == [operator], schema
