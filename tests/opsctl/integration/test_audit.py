"""`counselctl audit`: a service's audit entries, filtered, read from its database."""

from pathlib import Path
from uuid import UUID, uuid4

import pytest

from counseling_shared import audit
from counseling_shared.db import connect
from counseling_shared.migrations import apply_migrations
from tests.opsctl.integration.support import counselctl

pytestmark = pytest.mark.integration

SITE, CLIENT, STAFF = uuid4(), uuid4(), uuid4()


def entry(client_id: UUID, request_id: str) -> audit.AuditEntry:
    return audit.AuditEntry(
        actor=audit.Actor("staff", str(STAFF)),
        action="get_client",
        resource="clients",
        resource_id=str(client_id),
        site_id=SITE,
        client_id=client_id,
        request_id=request_id,
        status=200,
    )


async def test_counselctl_audit_lists_one_clients_entries(
    database_url: str, tmp_path: Path
) -> None:
    conn = await connect(database_url)
    try:
        await apply_migrations(conn, tmp_path)  # the backbone's tables only
        await audit.record(conn, entry(CLIENT, "mine"))
        await audit.record(conn, entry(uuid4(), "another-client"))
    finally:
        await conn.close()

    answer = await counselctl(
        "audit",
        "--service",
        "booking",
        "--database-url",
        database_url,
        "--client",
        str(CLIENT),
        "--json",
    )

    found = answer.json()
    assert [(e["request_id"], e["actor_kind"], e["actor_id"]) for e in found] == [
        ("mine", "staff", str(STAFF))
    ]
    assert found[0]["site_id"] == str(SITE)


async def test_audit_entries_cannot_be_changed_or_deleted(
    database_url: str, tmp_path: Path
) -> None:
    conn = await connect(database_url)
    try:
        await apply_migrations(conn, tmp_path)
        await audit.record(conn, entry(CLIENT, "kept"))
        for statement in ("UPDATE audit SET status = 500", "DELETE FROM audit"):
            with pytest.raises(Exception, match="never updated or deleted"):
                await conn.execute(statement)
        kept = await conn.fetchval("SELECT count(*) FROM audit WHERE request_id = 'kept'")
    finally:
        await conn.close()

    assert kept == 1
