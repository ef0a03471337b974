"""What booking's corrections and departures change in notify: a client's corrected profile is
kept, a deactivated staff member gets nothing more (their contact details are dropped), and an
erased client leaves nothing, even when a delivery is being recorded at that moment."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from asyncpg.pool import PoolConnectionProxy

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
from counseling_shared.eventstore import ConcurrencyConflict
from counseling_shared.unit_of_work import UnitOfWork
from notify.adapters import notification_store
from notify.application.erasure import erase_client
from notify.application.handlers import on_directory_batch
from notify.domain.codes import NotificationStatus
from notify.domain.notification import DeliveryOutcome, Notification, record_attempt
from notify.domain.retry import RetryPolicy
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
    await _register(notify, site_id, client_id, locale="fr")
    assert (
        await notify.set_preferences(client_id, {"quiet_hours": {"start": "21:00", "end": "08:00"}})
    ).status_code == 200
    await _checkin_due(notify, site_id, client_id)
    await eventually(lambda: notify.notifications(recipient_id=client_id))

    async with notify.pool.acquire() as conn:
        changed = await erase_client(conn, client_id)

    assert changed["notifications"] == 1
    assert changed["recipient_preferences"] == 1
    assert await notify.notifications(recipient_id=client_id) == []
    assert (await notify.http.get(f"/recipients/{client_id}/preferences")).status_code == 404


async def test_an_erasure_waits_for_a_delivery_being_recorded_and_removes_its_attempt(
    notify: Notify,
) -> None:
    site_id, client_id = await notify.new_site(), uuid4()
    await _register(notify, site_id, client_id, locale="en")
    await _checkin_due(notify, site_id, client_id)
    [message] = await eventually(lambda: notify.notifications(recipient_id=client_id))

    # A worker recording an attempt, caught between its row update and its commit.
    async with notify.pool.acquire() as worker, notify.pool.acquire() as eraser:
        recording = worker.transaction()
        await recording.start()
        await worker.execute(
            "UPDATE notifications SET attempts = attempts + 1 WHERE id = $1", message["id"]
        )
        await worker.execute(
            """INSERT INTO notification_attempts (notification_id, number, at, channel, outcome)
               VALUES ($1, 99, now(), 'email', 'transient_failure')""",
            message["id"],
        )
        erasing = asyncio.create_task(erase_client(eraser, client_id))

        await eventually(lambda: _waits_on_a_lock(notify, eraser))
        await recording.commit()
        changed = await erasing  # before the fix: a foreign-key error on the attempt

    assert changed["notifications"] == 1
    assert (
        await notify.pool.fetchval(
            "SELECT count(*) FROM notification_attempts WHERE notification_id = $1", message["id"]
        )
        == 0
    )


async def test_a_delivery_recorded_while_its_client_is_erased_leaves_no_events(
    notify: Notify,
) -> None:
    site_id, client_id = await notify.new_site(), uuid4()
    await _register(notify, site_id, client_id, locale="en")
    await _checkin_due(notify, site_id, client_id)

    async def settled() -> Notification | None:
        row = await notify.pool.fetchrow(
            "SELECT * FROM notifications WHERE recipient_id = $1", client_id
        )
        found = notification_store.from_row(row) if row is not None else None
        return found if found and found.status is not NotificationStatus.PENDING else None

    # Settled first, so no worker of the running service touches it during the test; then a
    # worker's attempt replayed on it by hand.
    settled_state = await eventually(settled)
    assert settled_state is not None
    state = replace(settled_state, status=NotificationStatus.PENDING)
    events = record_attempt(
        state,
        state.channel,
        DeliveryOutcome.transient("smtp_unreachable"),
        notify.clock.now(),
        RetryPolicy(max_attempts=3, base=timedelta(seconds=1), max_delay=timedelta(seconds=4)),
        0.0,
    )

    async with notify.pool.acquire() as eraser, notify.pool.acquire() as worker:
        erasing = eraser.transaction()
        await erasing.start()
        await eraser.execute("SELECT 1 FROM notifications WHERE id = $1 FOR UPDATE", state.id)

        async def record() -> None:
            async with worker.transaction():
                await notification_store.record(worker, state, events)

        recording = asyncio.create_task(record())

        # Its events appended, its row update waiting.
        await eventually(lambda: _waits_on_a_lock(notify, worker))
        await erase_client(eraser, client_id)
        await erasing.commit()
        with pytest.raises(ConcurrencyConflict):
            await recording

    assert (
        await notify.pool.fetchval(
            "SELECT count(*) FROM events WHERE stream_id = $1",
            notification_store.stream_id(state.id),
        )
        == 0
    )


async def _register(notify: Notify, site_id: UUID, client_id: UUID, *, locale: str) -> None:
    await notify.publish(
        ClientRegistered(
            client_id=client_id,
            site_id=site_id,
            locale=locale,
            timezone="Europe/Paris",
            preferred_channel=Channel.EMAIL,
        ),
        source="booking",
        subject=client_id,
    )


async def _checkin_due(notify: Notify, site_id: UUID, client_id: UUID) -> None:
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


async def _waits_on_a_lock(notify: Notify, conn: PoolConnectionProxy[Any]) -> bool:
    waiting = await notify.pool.fetchval(
        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
        conn.get_server_pid(),
    )
    return bool(waiting)
