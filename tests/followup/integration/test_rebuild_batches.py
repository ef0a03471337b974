"""A rebuild writing its rows in batches gives back exactly the live rows, with many aggregates
of every kind and batches smaller than a kind (a lost row, a preferences row stamped at the
wrong time or a statement run out of order would show as a difference)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from nats.js import JetStreamContext

from counseling_shared.codes import CancelledBy, Channel, Modality
from counseling_shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
    ClientRegistered,
    SessionMissed,
    SiteRegistered,
    StaffDeactivated,
)
from followup.application.rebuild import rebuild_projections
from tests.followup.integration.support import complete_session, eventually, publish_as_booking
from tests.projections import rebuild_in_small_batches, snapshot

pytestmark = pytest.mark.integration

SITES = 3
CLIENTS = 3  # per site: two with a completed session, one who missed one
APPOINTMENTS = 2  # per site: one booked and moved, one booked and cancelled


async def _site(api: httpx.AsyncClient, js: JetStreamContext, db: asyncpg.Pool[Any]) -> int:
    """A site, its policy, clients with sessions; how many follow-ups it will plan."""
    site_id = uuid4()
    site = SiteRegistered(site_id=site_id, name="Riverside", timezone="Europe/Paris", locale="fr")
    await publish_as_booking(js, site, site_id)
    # Nothing falls due during the test: the rows stay as the events left them.
    policy = {"first_checkin_after": "P7D", "no_show_outreach_after": "P2D"}
    answer = await api.put(f"/sites/{site_id}/followup-policy", json=policy)
    assert answer.status_code == 200, answer.text
    clients = [uuid4() for _ in range(CLIENTS)]
    for client_id in clients:
        registered = ClientRegistered(
            client_id=client_id,
            site_id=site_id,
            locale="fr",
            timezone="Europe/Paris",
            preferred_channel=Channel.EMAIL,
        )
        await publish_as_booking(js, registered, client_id)

    async def known(client_id: UUID) -> bool:
        return bool(await db.fetchval("SELECT 1 FROM clients WHERE client_id = $1", client_id))

    for client_id in clients:
        await eventually(lambda c=client_id: known(c))  # type: ignore[misc]
    for intensity in ("light", "standard"):  # two changes: the row keeps the last one's time
        answer = await api.put(
            f"/clients/{clients[0]}/followup-preferences",
            json={"intensity": intensity, "channel": "sms"},
        )
        assert answer.status_code == 200, answer.text
    for client_id in clients[:2]:
        await complete_session(
            js, site_id, client_id, completed_at=datetime.now(UTC) - timedelta(minutes=5)
        )
    missed = SessionMissed(
        appointment_id=uuid4(),
        site_id=site_id,
        client_id=clients[2],
        counselor_id=uuid4(),
        start=datetime.now(UTC),
    )
    await publish_as_booking(js, missed, missed.appointment_id)
    left = StaffDeactivated(staff_id=uuid4(), site_id=site_id)
    await publish_as_booking(js, left, left.staff_id)
    start = datetime.now(UTC) + timedelta(days=10)
    for client_id, then in ((clients[2], AppointmentRescheduled), (clients[1], None)):
        fields: dict[str, Any] = {
            "appointment_id": uuid4(),
            "site_id": site_id,
            "client_id": client_id,
            "counselor_id": uuid4(),
            "room_id": None,
            "start": start,
            "end": start + timedelta(hours=1),
            "modality": Modality.ONLINE,
        }
        await publish_as_booking(js, AppointmentBooked(**fields), fields["appointment_id"])
        later: AppointmentBooked = (
            AppointmentRescheduled(**fields | {"start": start + timedelta(days=1)})
            if then
            else AppointmentCancelled(**fields, cancelled_by=CancelledBy.CLIENT, late=False)
        )
        await publish_as_booking(js, later, fields["appointment_id"])
    return 3


async def test_a_rebuild_in_small_batches_of_many_aggregates_equals_the_live_projection(
    api: httpx.AsyncClient, js: JetStreamContext, db: asyncpg.Pool[Any], database_url: str
) -> None:
    planned = sum([await _site(api, js, db) for _ in range(SITES)])

    async def settled() -> bool:
        found = await db.fetchval("SELECT count(*) FROM followups WHERE status = 'scheduled'")
        regular = await db.fetchval("SELECT count(*) FROM contact_regularity")
        left = await db.fetchval("SELECT count(*) FROM deactivated_staff")
        # Each appointment's second event too (moved: a second version; cancelled).
        moved = await db.fetchval("SELECT count(*) FROM appointments WHERE version = 2")
        return bool(
            found >= planned
            and regular >= 2 * SITES
            and left >= SITES
            and moved >= APPOINTMENTS * SITES
        )

    await eventually(settled, timeout=30)
    live = await snapshot(database_url)
    assert len(live["sites"]) >= SITES
    assert len(live["followup_policies"]) >= SITES
    assert len(live["clients"]) >= SITES * CLIENTS
    counts = await rebuild_in_small_batches(database_url, rebuild_projections)

    assert await snapshot(database_url) == live
    assert min(counts.values()) >= SITES, counts
