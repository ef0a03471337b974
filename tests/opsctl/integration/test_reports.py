"""`counselctl followups overdue` and `counselctl alerts open` read followup's and crisis's own
tables (here migrated into two schemas of one database, as DATABASE_SCHEMA allows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.db import connect
from counseling_shared.migrations import apply_migrations
from crisis.bootstrap import MIGRATIONS as CRISIS_MIGRATIONS
from followup.bootstrap import MIGRATIONS as FOLLOWUP_MIGRATIONS
from tests.opsctl.integration.support import counselctl

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
async def migrated(database_url: str) -> str:
    for schema, migrations in (("followup", FOLLOWUP_MIGRATIONS), ("crisis", CRISIS_MIGRATIONS)):
        conn = await connect(database_url, schema=schema)
        try:
            await apply_migrations(conn, migrations, schema=schema)
        finally:
            await conn.close()
    return database_url


async def _followup(url: str, site: UUID, status: str, due_at: datetime) -> UUID:
    conn = await connect(url, schema="followup")
    try:
        followup_id = uuid4()
        await conn.execute(
            """INSERT INTO followups (id, client_id, site_id, kind, due_at, status, created_at,
                                      updated_at, version)
               VALUES ($1, $2, $3, 'checkin', $4, $5, $6, $6, 1)""",
            followup_id,
            uuid4(),
            site,
            due_at,
            status,
            NOW - timedelta(days=30),
        )
        return followup_id
    finally:
        await conn.close()


async def _alert(url: str, site: UUID, status: str, pages: int = 0) -> UUID:
    conn = await connect(url, schema="crisis")
    try:
        alert_id = uuid4()
        await conn.execute(
            """INSERT INTO alerts (id, client_id, site_id, level, status, current_level, cycle,
                                   opened_at, version, updated_at, escalation_due_at)
               VALUES ($1, $2, $3, 'high', $4, 2, 0, $5, 1, $5, $6)""",
            alert_id,
            uuid4(),
            site,
            status,
            NOW - timedelta(minutes=12),
            NOW + timedelta(minutes=3),
        )
        for level in range(1, pages + 1):
            await conn.execute(
                """INSERT INTO alert_pages (page_id, alert_id, staff_id, level, cycle,
                                            requested_at)
                   VALUES ($1, $2, $3, $4, 0, $5)""",
                uuid4(),
                alert_id,
                uuid4(),
                level,
                NOW,
            )
        return alert_id
    finally:
        await conn.close()


def _ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in rows]


async def test_overdue_followups_are_the_scheduled_ones_past_their_time(migrated: str) -> None:
    site, other_site = uuid4(), uuid4()
    late = await _followup(migrated, site, "scheduled", NOW - timedelta(hours=3))
    later = await _followup(migrated, site, "scheduled", NOW - timedelta(minutes=5))
    await _followup(migrated, site, "scheduled", NOW + timedelta(hours=1))  # not yet due
    await _followup(migrated, site, "due", NOW - timedelta(hours=5))  # fired: not overdue
    await _followup(migrated, site, "completed", NOW - timedelta(days=2))
    elsewhere = await _followup(migrated, other_site, "scheduled", NOW - timedelta(days=1))
    db = ["--database-url", migrated, "--database-schema", "followup"]

    everywhere = (await counselctl("followups", "overdue", *db, "--json")).json()
    one_site = (await counselctl("followups", "overdue", *db, "--site", str(site), "--json")).json()
    table = await counselctl("followups", "overdue", *db)

    assert _ids(everywhere) == [str(elsewhere), str(late), str(later)]
    assert _ids(one_site) == [str(late), str(later)]
    assert one_site[0]["overdue_by"] >= 3 * 3600
    assert str(late) in table.stdout
    assert "Overdue follow-ups (3)" in table.stdout


async def _regularity(
    url: str, site: UUID, *, gap_found_at: datetime | None, cooloff_until: datetime | None
) -> UUID:
    conn = await connect(url, schema="followup")
    try:
        client_id = uuid4()
        await conn.execute(
            """INSERT INTO contact_regularity (id, site_id, last_positive_at, cooloff_until,
                                               due_at, gap_found_at, version)
               VALUES ($1, $2, $3, $4, $5, $6, 1)""",
            client_id,
            site,
            NOW - timedelta(days=12),
            cooloff_until,
            NOW + timedelta(days=8),
            gap_found_at,
        )
        return client_id
    finally:
        await conn.close()


async def test_contact_gaps_lists_clients_past_the_gap_or_in_a_cooloff(migrated: str) -> None:
    site = uuid4()
    adrift = await _regularity(
        migrated, site, gap_found_at=NOW - timedelta(days=2), cooloff_until=None
    )
    cooling = await _regularity(
        migrated, site, gap_found_at=None, cooloff_until=NOW + timedelta(days=3)
    )
    await _regularity(migrated, site, gap_found_at=None, cooloff_until=NOW - timedelta(days=1))
    await _regularity(migrated, site, gap_found_at=None, cooloff_until=None)
    db = ["--database-url", migrated, "--database-schema", "followup"]

    found = (await counselctl("contact-gaps", *db, "--site", str(site), "--json")).json()
    shown = await counselctl("contact-gaps", *db, "--site", str(site))

    assert sorted(g["client_id"] for g in found) == sorted([str(adrift), str(cooling)])
    by_client = {g["client_id"]: g for g in found}
    assert by_client[str(adrift)]["past_gap_since"] is not None
    assert by_client[str(cooling)]["cooloff_until"] is not None
    assert "Contact gaps (2)" in shown.stdout


async def test_open_alerts_are_those_nobody_acknowledged(migrated: str) -> None:
    site = uuid4()
    paged = await _alert(migrated, site, "open", pages=2)
    await _alert(migrated, site, "acknowledged", pages=1)
    await _alert(migrated, site, "resolved")
    db = ["--database-url", migrated, "--database-schema", "crisis"]

    found = (await counselctl("alerts", "open", *db, "--site", str(site), "--json")).json()
    table = await counselctl("alerts", "open", *db, "--site", str(site))

    assert _ids(found) == [str(paged)]
    assert (found[0]["pages"], found[0]["current_level"], found[0]["level"]) == (2, 2, "high")
    assert str(paged) in table.stdout


async def test_a_database_without_the_services_tables_is_a_clear_error(database_url: str) -> None:
    answer = await counselctl("alerts", "open", "--database-url", database_url)

    assert answer.code == 1
    assert "right service's database" in answer.stderr


async def test_tables_lists_the_services_tables_with_their_sizes(migrated: str) -> None:
    db = ["--service", "crisis", "--database-url", migrated, "--database-schema", "crisis"]

    found = (await counselctl("tables", *db, "--json")).json()
    shown = await counselctl("tables", *db)

    names = {t["table"] for t in found}
    assert {"alerts", "escalation_timers", "inbox", "outbox", "dead_letters"} <= names
    assert "followups" not in names, "another schema's tables"
    assert all(t["bytes"] > 0 for t in found)
    assert "Tables of crisis" in shown.stdout


async def test_outbox_dead_letters_lists_the_events_that_could_not_be_published(
    migrated: str,
) -> None:
    reviewed, waiting = uuid4(), uuid4()
    conn = await connect(migrated, schema="crisis")
    try:
        await conn.executemany(
            """INSERT INTO outbox_dead_letters (position, event_id, stream, subject, payload,
                   created_at, reason, detail, reviewed_at)
               VALUES ($1, $2, 'CRISIS', 'crisis.x.AlertOpened', '\\x7b7d', now(), $3, 'd', $4)""",
            [(1, reviewed, "no_stream", NOW), (2, waiting, "too_large", None)],
        )
    finally:
        await conn.close()
    db = ["--service", "crisis", "--database-url", migrated, "--database-schema", "crisis"]

    every = (await counselctl("outbox", "dead-letters", *db, "--json")).json()
    unreviewed = (await counselctl("outbox", "dead-letters", *db, "--waiting", "--json")).json()

    assert [(d["event_id"], d["reason"]) for d in every] == [
        (str(reviewed), "no_stream"),
        (str(waiting), "too_large"),
    ]
    assert [d["event_id"] for d in unreviewed] == [str(waiting)]
