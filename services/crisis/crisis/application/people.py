"""Who a flag and an acknowledgement are about: clients of a site (from booking's
ClientRegistered) and the staff member acting, who must work at the alert's site or have
been paged for the alert as another site's backup."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID

import asyncpg

from counseling_shared import events as public
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters import alert_views, clients, staff


async def client_registered(uow: UnitOfWork, event: public.ClientRegistered) -> None:
    """Only the id and the site are kept: names and contact details stay in booking."""
    await clients.record_client(uow.conn, event.client_id, event.site_id, uow.now())


async def client_is_of_site(
    pool: asyncpg.Pool[Any], client_id: UUID, site_id: UUID, within: float
) -> bool:
    """Whether the client is registered at `site_id`, giving booking's ClientRegistered up to
    `within` seconds to arrive (a client is often registered just before a flag is raised)."""
    deadline = time.monotonic() + within
    while True:
        async with pool.acquire() as conn:
            known_site = await clients.site_of(conn, client_id)
        if known_site is not None:
            return known_site == site_id
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.1)


async def works_at(conn: Any, staff_id: UUID, site_id: UUID) -> bool:
    """Registered at the site and not deactivated: someone who has left acts on no alert,
    neither with their key, through a page link sent before they left, nor by an admin."""
    return await staff.is_active_at(conn, staff_id, site_id)


async def may_act_on(conn: Any, staff_id: UUID, site_id: UUID, alert_id: UUID) -> bool:
    """`works_at` the alert's site, or (cross-site backup) active and paged for this very
    alert: a policy names another site's staff only when set by a key administering both
    sites (README, "Cross-site backup"). Being paged is the grant: a colleague of another
    site who was not paged still acts on nothing here."""
    if await works_at(conn, staff_id, site_id):
        return True
    return await staff.is_active(conn, staff_id) and await alert_views.was_paged(
        conn, alert_id, staff_id
    )
