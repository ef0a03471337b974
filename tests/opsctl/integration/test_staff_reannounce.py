"""`counselctl staff reannounce`: booking queues StaffRegistered again for each active member
of the site (nothing changed), and its audit trail records the run with the operator."""

from __future__ import annotations

import asyncio
import getpass
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from booking.application import handlers
from booking.application.ports import EverySite
from booking.bootstrap import MIGRATIONS
from booking.domain.site import RegisterSite
from booking.domain.staff import RegisterStaffMember
from counseling_shared.clock import SystemClock
from counseling_shared.codes import StaffRole
from counseling_shared.db import connect
from counseling_shared.migrations import apply_migrations
from counseling_shared.unit_of_work import UnitOfWork
from opsctl.cli import app

pytestmark = pytest.mark.integration


async def _practice(url: str) -> dict[str, Any]:
    """Two sites; at the first an active member and one who left, at the second one more."""
    conn = await connect(url)
    try:
        await apply_migrations(conn, MIGRATIONS)
        async with conn.transaction():
            uow = UnitOfWork(conn, source="booking", clock=SystemClock())
            sites = [
                await handlers.register_site(uow, RegisterSite(name, "Europe/Paris"))
                for name in ("Riverside", "Hillside")
            ]
            people = [
                await handlers.register_staff_member(
                    uow,
                    RegisterStaffMember(site.id, "On call", StaffRole.CRISIS_LINE, email),
                    EverySite(),
                )
                for site, email in zip(
                    (sites[0], sites[0], sites[1]),
                    ("a@center.example", "b@center.example", "c@center.example"),
                    strict=True,
                )
            ]
            await handlers.deactivate_staff_member(uow, people[1].id, EverySite())
            await uow.flush()
    finally:
        await conn.close()
    return {"site": sites[0].id, "active": people[0].id}


async def _announced_and_audited(url: str) -> tuple[list[Any], list[Any]]:
    conn = await connect(url)
    try:
        announced = await conn.fetch(
            """SELECT aggregate FROM outbox WHERE subject LIKE '%.StaffRegistered'
               ORDER BY position"""
        )
        audited = await conn.fetch(
            "SELECT actor_kind, actor_id, action, site_id, status FROM audit"
        )
    finally:
        await conn.close()
    return [r["aggregate"] for r in announced], [tuple(r) for r in audited]


def test_reannouncing_a_site_queues_its_active_staff_again_and_is_audited(
    database_url: str,
) -> None:
    practice = asyncio.run(_practice(database_url))

    answer = CliRunner().invoke(
        app,
        ["staff", "reannounce", "--site", str(practice["site"]), "--json"],
        env={"BOOKING_DATABASE_URL": database_url},
    )

    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.stdout) == {"site_id": str(practice["site"]), "reannounced": 1}
    announced, audited = asyncio.run(_announced_and_audited(database_url))
    # Three registrations, then the one member announced again.
    assert announced.count(str(practice["active"])) == 2
    assert len(announced) == 4
    assert audited == [("operator", getpass.getuser(), "reannounce_staff", practice["site"], 200)]
