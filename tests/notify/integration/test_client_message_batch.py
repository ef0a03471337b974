"""A batch of booking's events becomes its clients' notifications in two round trips (the
clients' facts, then every event, row and the lane's wake-up), each message as the per-message
handler would have made it: its own cause, channel, template and quiet-hours hold."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from counseling_shared.codes import CancelledBy, Channel, Modality
from counseling_shared.envelope import Envelope, wrap
from counseling_shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    FeeDue,
    IntegrationEvent,
    PageRequested,
    SessionMissed,
    StaffRegistered,
)
from counseling_shared.unit_of_work import UnitOfWork
from notify.adapters import notification_store
from notify.application.client_messages import client_messages_batch
from notify.application.handlers import APPOINTMENT_MESSAGES, page_handler
from notify.domain.codes import Lane
from tests.notify.integration.conftest import CountingConnection, Notify, eventually

pytestmark = pytest.mark.integration


def _appointment(site_id: UUID, client_id: UUID) -> dict[str, Any]:
    start = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    return {
        "appointment_id": uuid4(),
        "site_id": site_id,
        "client_id": client_id,
        "counselor_id": uuid4(),
        "room_id": None,
        "start": start,
        "end": start + timedelta(hours=1),
        "modality": Modality.ONLINE,
    }


def _fee() -> FeeDue:
    return FeeDue(amount=Decimal("40.00"), currency="EUR")


async def _quiet_now(notify: Notify, client_id: UUID) -> None:
    """Quiet hours for `client_id` that cover the present (in Europe/Paris, their zone)."""
    local_now = notify.clock.now().astimezone(ZoneInfo("Europe/Paris"))
    quiet = {
        "start": (local_now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (local_now + timedelta(hours=2)).strftime("%H:%M"),
    }
    assert (await notify.set_preferences(client_id, {"quiet_hours": quiet})).status_code == 200


async def test_a_batch_of_booking_events_is_stored_in_two_round_trips_each_message_its_own(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    quiet, sms, plain = uuid4(), uuid4(), uuid4()
    for client_id in (quiet, sms, plain):
        await notify.new_client(site_id, client_id)
    await eventually(lambda: _clients_known(notify, [quiet, sms, plain]))
    await _quiet_now(notify, quiet)
    assert (await notify.set_preferences(sms, {"channel": "sms"})).status_code == 200

    events: list[IntegrationEvent] = [
        AppointmentBooked(**_appointment(site_id, quiet)),
        AppointmentBooked(**_appointment(site_id, sms)),
        # A late cancellation with a fee: its confirmation, then the fee notice.
        AppointmentCancelled(
            **_appointment(site_id, plain),
            cancelled_by=CancelledBy.CLIENT,
            late=True,
            fee_due=_fee(),
        ),
        # A no-show without a fee asks for nothing (followup's outreach speaks).
        SessionMissed(**_without(_appointment(site_id, plain), "end", "room_id", "modality")),
        # Not one of the table's types: ignored, as the per-message dispatch ignores it.
        StaffRegistered(
            staff_id=uuid4(),
            site_id=site_id,
            name="Dr. A",
            role="counselor",
            email="a@center.example",
            phone=None,
            locale="en",
        ),
    ]
    messages = [(wrap(e, source="booking", subject=uuid4()), e) for e in events]
    handle_batch = client_messages_batch(APPOINTMENT_MESSAGES)

    async with notify.pool.acquire() as conn, conn.transaction():
        counting = CountingConnection(conn)
        uow = UnitOfWork(counting, source="notify", clock=notify.clock)  # type: ignore[arg-type]
        await handle_batch(uow, messages)
    assert counting.round_trips == 2, "the facts, then the events, rows and wake-up"

    rows = await notify.pool.fetch(
        """SELECT id, recipient_id, template, channel, lane, cause_event_id, hold_reason
           FROM notifications WHERE site_id = $1 ORDER BY created_at, template""",
        site_id,
    )
    made = {(r["recipient_id"], r["template"]): r for r in rows}
    assert set(made) == {
        (quiet, "appointment_booked"),
        (sms, "appointment_booked"),
        (plain, "appointment_cancelled"),
        (plain, "missed_session_fee"),
    }
    assert {r["lane"] for r in rows} == {Lane.BULK.value}
    assert made[quiet, "appointment_booked"]["hold_reason"] == "quiet_hours"
    assert made[sms, "appointment_booked"]["channel"] == Channel.SMS.value
    assert made[plain, "appointment_cancelled"]["channel"] == Channel.EMAIL.value
    causes = {envelope.id for envelope, _ in messages}
    assert made[sms, "appointment_booked"]["cause_event_id"] == messages[1][0].id
    assert made[plain, "missed_session_fee"]["cause_event_id"] == messages[2][0].id
    assert {r["cause_event_id"] for r in rows} <= causes
    # Each notification's stream starts with its NotificationRequested, as `add` writes it.
    requested = await notify.pool.fetch(
        "SELECT stream_id, version, type FROM events WHERE stream_id = ANY($1::text[])",
        [notification_store.stream_id(r["id"]) for r in rows],
    )
    assert sorted((e["version"], e["type"]) for e in requested) == [
        (1, "NotificationRequested")
    ] * len(rows)


async def test_the_batch_wakes_the_bulk_lane_when_it_commits(notify: Notify) -> None:
    site_id = await notify.new_site()
    client_id = await notify.new_client(site_id, uuid4())
    await eventually(lambda: _clients_known(notify, [client_id]))
    woken: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(notify.settings.database_url)
    try:
        channel = notification_store.wake_channel(Lane.BULK)
        await listener.add_listener(channel, lambda *args: woken.put_nowait(args[2]))
        event = AppointmentBooked(**_appointment(site_id, client_id))
        envelope = wrap(event, source="booking", subject=uuid4())
        async with notify.pool.acquire() as conn, conn.transaction():
            uow = UnitOfWork(conn, source="notify", clock=notify.clock)
            await client_messages_batch(APPOINTMENT_MESSAGES)(uow, [(envelope, event)])
            await asyncio.sleep(0.1)
            assert woken.empty(), "no wake-up before the rows are visible"
        assert await asyncio.wait_for(woken.get(), timeout=5.0) == channel
    finally:
        await listener.close()


async def test_a_page_stores_both_channels_and_wakes_the_crisis_lane_in_one_round_trip(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    staff_id = await notify.new_staff(site_id)
    page = PageRequested(
        page_id=uuid4(),
        alert_id=uuid4(),
        site_id=site_id,
        staff_id=staff_id,
        level=1,
    )
    envelope: Envelope = wrap(page, source="crisis", subject=page.alert_id)
    async with notify.pool.acquire() as conn, conn.transaction():
        counting = CountingConnection(conn)
        uow = UnitOfWork(counting, source="notify", clock=notify.clock)  # type: ignore[arg-type]
        await page_handler("https://crisis.example")(uow, envelope, page)
    assert counting.round_trips == 1

    rows = await notify.pool.fetch(
        "SELECT channel, lane FROM notifications WHERE page_id = $1", page.page_id
    )
    assert sorted((r["channel"], r["lane"]) for r in rows) == [
        ("email", Lane.CRISIS.value),
        ("sms", Lane.CRISIS.value),
    ]


def _without(values: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in names}


async def _clients_known(notify: Notify, clients: list[UUID]) -> bool:
    known = await notify.pool.fetchval(
        "SELECT count(*) FROM clients WHERE client_id = ANY($1::uuid[])", clients
    )
    return bool(known == len(clients))
