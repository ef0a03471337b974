"""What booking's corrections and departures change in notify: a client's corrected profile is
kept, and a deactivated staff member gets nothing more (their contact details are dropped)."""

from uuid import uuid4

import pytest

from counseling_shared.codes import Channel, FollowUpKind, RiskLevel
from counseling_shared.envelope import wrap
from counseling_shared.events import (
    ClientContactChanged,
    ClientRegistered,
    FollowUpDue,
    IntegrationEvent,
    PageRequested,
    StaffDeactivated,
)
from counseling_shared.unit_of_work import UnitOfWork
from notify.application.erasure import erase_client
from notify.application.handlers import on_directory_batch
from tests.notify.integration.conftest import Notify, eventually
from tests.notify.integration.test_directory_batch import _staff

pytestmark = pytest.mark.integration


async def test_a_page_for_a_deactivated_staff_member_is_never_sent(notify: Notify) -> None:
    site_id = await notify.new_site()
    staff_id = await notify.new_staff(site_id, phone="+33600000077")
    await notify.publish(
        StaffDeactivated(staff_id=staff_id, site_id=site_id), source="booking", subject=staff_id
    )

    async def contacts_dropped() -> bool:
        row = await notify.pool.fetchrow(
            "SELECT email, phone, deactivated_at FROM staff_contacts WHERE staff_id = $1",
            staff_id,
        )
        return row is not None and row["deactivated_at"] is not None and row["email"] is None

    await eventually(contacts_dropped)
    alert_id = uuid4()
    await notify.publish(
        PageRequested(
            alert_id=alert_id,
            page_id=uuid4(),
            staff_id=staff_id,
            site_id=site_id,
            level=1,
            risk_level=RiskLevel.HIGH,
        ),
        source="crisis",
        subject=alert_id,
    )

    async def both_failed() -> list[dict[str, object]]:
        rows = await notify.notifications(recipient_id=staff_id)
        return rows if len(rows) == 2 and {r["status"] for r in rows} == {"failed"} else []

    rows = await eventually(both_failed)
    assert {r["last_error"] for r in rows} == {"recipient_deactivated"}
    assert not [s for s in notify.sinks.http.sms if s.to == "+33600000077"]


async def test_a_batch_keeps_the_corrected_profile_and_a_departure_outlives_a_replay(
    notify: Notify,
) -> None:
    site_id, staff_id, client_id = uuid4(), uuid4(), uuid4()
    events: list[IntegrationEvent] = [
        _staff(staff_id, site_id, "+33600000003"),
        ClientRegistered(
            client_id=client_id,
            site_id=site_id,
            locale="fr",
            timezone="Europe/Paris",
            preferred_channel=Channel.SMS,
        ),
        StaffDeactivated(staff_id=staff_id, site_id=site_id),
        ClientContactChanged(
            client_id=client_id,
            site_id=site_id,
            locale="ko",
            timezone="Asia/Seoul",
            preferred_channel=Channel.EMAIL,
        ),
    ]

    for batch in (events, events[:1]):  # the second: StaffRegistered redelivered
        messages = [(wrap(e, source="booking", subject=uuid4()), e) for e in batch]
        async with notify.pool.acquire() as conn, conn.transaction():
            uow = UnitOfWork(conn, source="notify", clock=notify.clock)
            await on_directory_batch(uow, messages)

    client = await notify.pool.fetchrow(
        "SELECT locale, timezone, preferred_channel FROM clients WHERE client_id = $1", client_id
    )
    assert client is not None
    assert tuple(client) == ("ko", "Asia/Seoul", "email")
    staff = await notify.pool.fetchrow(
        "SELECT phone, deactivated_at FROM staff_contacts WHERE staff_id = $1", staff_id
    )
    assert staff is not None
    assert staff["phone"] is None
    assert staff["deactivated_at"] is not None


async def test_an_erased_client_leaves_nothing_in_notify(notify: Notify) -> None:
    site_id, client_id = await notify.new_site(), uuid4()
    await notify.publish(
        ClientRegistered(
            client_id=client_id,
            site_id=site_id,
            locale="fr",
            timezone="Europe/Paris",
            preferred_channel=Channel.EMAIL,
        ),
        source="booking",
        subject=client_id,
    )
    assert (
        await notify.set_preferences(client_id, {"quiet_hours": {"start": "21:00", "end": "08:00"}})
    ).status_code == 200
    await notify.publish(
        FollowUpDue(
            followup_id=uuid4(),
            client_id=client_id,
            site_id=site_id,
            kind=FollowUpKind.CHECKIN,
            due_at=notify.clock.now(),
        ),
        source="followup",
        subject=client_id,
    )
    await eventually(lambda: notify.notifications(recipient_id=client_id))

    async with notify.pool.acquire() as conn:
        changed = await erase_client(conn, client_id)

    assert changed["notifications"] == 1
    assert changed["recipient_preferences"] == 1
    assert await notify.notifications(recipient_id=client_id) == []
    assert (await notify.http.get(f"/recipients/{client_id}/preferences")).status_code == 404
