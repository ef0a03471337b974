"""notify-directory's batch handler: a batch of registrations upserted at once, the later event
for the same id winning."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from counseling_shared.codes import Channel, StaffRole
from counseling_shared.envelope import wrap
from counseling_shared.events import (
    ClientRegistered,
    IntegrationEvent,
    SiteRegistered,
    StaffRegistered,
)
from counseling_shared.unit_of_work import UnitOfWork
from notify.application.handlers import on_directory_batch, on_staff_registered
from tests.notify.integration.conftest import Notify

pytestmark = pytest.mark.integration


def _staff(staff_id: UUID, site_id: UUID, phone: str) -> StaffRegistered:
    return StaffRegistered(
        staff_id=staff_id,
        site_id=site_id,
        name="Dr. On Call",
        role=StaffRole.CRISIS_LINE,
        email="oncall@center.example",
        phone=phone,
        locale="en",
    )


async def test_a_directory_batch_upserts_every_registration_and_the_later_one_wins(
    notify: Notify,
) -> None:
    site_id, staff_id, client_id = uuid4(), uuid4(), uuid4()
    events: list[IntegrationEvent] = [
        # Staff before its site in the batch: the sites are written first all the same.
        _staff(staff_id, site_id, "+33600000001"),
        SiteRegistered(site_id=site_id, name="Riverside", timezone="Europe/Paris", locale="en"),
        ClientRegistered(
            client_id=client_id,
            site_id=site_id,
            locale="fr",
            timezone="Europe/Paris",
            preferred_channel=Channel.SMS,
        ),
        _staff(staff_id, site_id, "+33600000002"),
    ]
    messages = [(wrap(e, source="booking", subject=uuid4()), e) for e in events]

    async with notify.pool.acquire() as conn, conn.transaction():
        uow = UnitOfWork(conn, source="notify", clock=notify.clock)
        await on_directory_batch(uow, messages)

    site = await notify.pool.fetchval("SELECT timezone FROM sites WHERE site_id = $1", site_id)
    assert site == "Europe/Paris"
    phone = await notify.pool.fetchval(
        "SELECT phone FROM staff_contacts WHERE staff_id = $1", staff_id
    )
    assert phone == "+33600000002", "the later registration in the batch wins"
    client = await notify.pool.fetchrow(
        "SELECT locale, preferred_channel FROM clients WHERE client_id = $1", client_id
    )
    assert client is not None
    assert (client["locale"], client["preferred_channel"]) == ("fr", Channel.SMS.value)


async def test_an_older_announcement_arriving_late_keeps_the_newer_contacts(
    notify: Notify,
) -> None:
    """booking announces a member again when their details change; the first announcement,
    retried or redriven after the change, must not bring the old phone back."""
    site_id, staff_id, now = uuid4(), uuid4(), datetime.now(UTC)
    changed = _staff(staff_id, site_id, "+33600000009")
    first = _staff(staff_id, site_id, "+33600000008")
    late_in_a_batch = [
        (wrap(changed, source="booking", subject=staff_id, time=now), changed),
        (wrap(first, source="booking", subject=staff_id, time=now - timedelta(minutes=5)), first),
    ]
    late_alone = wrap(first, source="booking", subject=staff_id, time=now - timedelta(minutes=1))

    async with notify.pool.acquire() as conn, conn.transaction():
        uow = UnitOfWork(conn, source="notify", clock=notify.clock)
        await on_directory_batch(uow, late_in_a_batch)
        await on_staff_registered(uow, late_alone, first)

    row = await notify.pool.fetchrow(
        "SELECT phone, announced_at FROM staff_contacts WHERE staff_id = $1", staff_id
    )
    assert row is not None
    assert (row["phone"], row["announced_at"]) == ("+33600000009", now)
