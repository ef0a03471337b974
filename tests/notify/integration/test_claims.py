"""Claims, leases and page failover against real PostgreSQL, with the providers faked (no NATS:
the directory is faked too, and delivery is driven step by step with a controllable clock)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import Channel, NotificationChannel, StaffRole
from counseling_shared.db import connect, create_pool
from counseling_shared.envelope import wrap
from counseling_shared.events import PageRequested
from counseling_shared.migrations import apply_migrations
from counseling_shared.unit_of_work import UnitOfWork
from notify.adapters import directory_store, notification_store
from notify.adapters.templates import JinjaRenderer
from notify.application.delivery import Courier
from notify.application.handlers import page_handler
from notify.application.ports import ClientContact, ClientNotFound, OutgoingMessage
from notify.bootstrap import MIGRATIONS
from notify.domain import notification
from notify.domain.codes import Lane, NotificationStatus, RecipientKind, Template
from notify.domain.notification import DeliveryOutcome, Notification
from notify.domain.recipients import StaffMember
from notify.domain.retry import RetryPolicy
from notify.entrypoints.workers import LaneWorkers

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=30)
SLOW_RETRY = RetryPolicy(max_attempts=4, base=timedelta(seconds=30), max_delay=timedelta(minutes=5))


class ScriptedProvider:
    """A channel provider answering from a script (then "sent"), remembering every call."""

    def __init__(self, *script: DeliveryOutcome) -> None:
        self.script = list(script)
        self.calls: list[OutgoingMessage] = []

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        self.calls.append(message)
        return self.script.pop(0) if self.script else DeliveryOutcome.sent()


class StuckProvider:
    """A provider that never answers (a hung connection)."""

    def __init__(self) -> None:
        self.called = asyncio.Event()

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        self.called.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class KnownClients:
    def __init__(self, **contacts: ClientContact) -> None:
        self.contacts = {UUID(k): v for k, v in contacts.items()}

    async def contact(self, client_id: UUID) -> ClientContact:
        if client_id not in self.contacts:
            raise ClientNotFound(str(client_id))
        return self.contacts[client_id]


@pytest.fixture(scope="module")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    conn = await connect(database_url)
    await apply_migrations(conn, MIGRATIONS)
    await conn.close()
    pool = await create_pool(database_url)
    yield pool
    await pool.close()


@pytest.fixture
async def clock(pool: asyncpg.Pool[Any]) -> ControllableClock:
    """Each test starts at the same instant with nothing left pending by the tests before."""
    await pool.execute("UPDATE notifications SET status = 'failed' WHERE status = 'pending'")
    return ControllableClock(datetime(2030, 3, 4, 12, 0, tzinfo=UTC))


def courier(
    pool: asyncpg.Pool[Any],
    clock: ControllableClock,
    email: Any = None,
    sms: Any = None,
    clients: KnownClients | None = None,
) -> Courier:
    return Courier(
        pool=pool,
        clock=clock,
        directory=clients or KnownClients(),
        providers={
            NotificationChannel.EMAIL: email or ScriptedProvider(),
            NotificationChannel.SMS: sms or ScriptedProvider(),
            NotificationChannel.MESSAGING: ScriptedProvider(),
        },
        renderer=JinjaRenderer(),
        retry=SLOW_RETRY,
        jitter=lambda: 1.0,
    )


async def queue_followup(pool: asyncpg.Pool[Any], clock: ControllableClock) -> UUID:
    requested = notification.request(
        notification_id=uuid4(),
        recipient_id=uuid4(),
        recipient_kind=RecipientKind.CLIENT,
        site_id=uuid4(),
        lane=Lane.BULK,
        channel=NotificationChannel.EMAIL,
        template=Template.FOLLOWUP_DUE,
        params={"kind": "checkin"},
        cause_event_id=uuid4(),
        now=clock.now(),
    )
    async with pool.acquire() as conn:
        await notification_store.add(conn, requested, {})
    return requested.notification_id


async def claim(
    pool: asyncpg.Pool[Any], clock: ControllableClock, lane: Lane = Lane.BULK
) -> Notification | None:
    async with pool.acquire() as conn, conn.transaction():
        claimed = await notification_store.claim(conn, lane, clock.now(), clock.now() + LEASE)
    return claimed[0] if claimed else None


async def claim_this(
    pool: asyncpg.Pool[Any], clock: ControllableClock, wanted: UUID, lane: Lane = Lane.BULK
) -> Notification:
    """Claim until `wanted` comes up, then give back the others claimed on the way."""
    others: list[UUID] = []
    try:
        while True:
            claimed = await claim(pool, clock, lane)
            assert claimed is not None, f"{wanted} was never claimable"
            if claimed.id == wanted:
                return claimed
            others.append(claimed.id)
    finally:
        async with pool.acquire() as conn:
            for other in others:
                await notification_store.release(conn, other)


async def announced(pool: asyncpg.Pool[Any], notification_id: UUID) -> list[dict[str, Any]]:
    """The public events in the outbox about `notification_id`."""
    rows = await pool.fetch("SELECT payload FROM outbox ORDER BY position")
    events = [json.loads(bytes(r["payload"])) for r in rows]
    return [e for e in events if e["data"]["notification_id"] == str(notification_id)]


async def test_a_claimed_message_is_claimed_again_only_after_its_lease_runs_out(
    pool: asyncpg.Pool[Any], clock: ControllableClock
) -> None:
    queued = await queue_followup(pool, clock)
    assert (await claim_this(pool, clock, queued)).id == queued

    clock.advance(LEASE - timedelta(seconds=1))
    assert await claim(pool, clock) is None  # its worker may still be sending

    clock.advance(timedelta(seconds=2))  # that worker died: someone else takes over
    again = await claim(pool, clock)
    assert again is not None
    assert again.id == queued


async def test_a_worker_that_lost_its_lease_records_nothing_over_the_one_that_took_over(
    pool: asyncpg.Pool[Any], clock: ControllableClock
) -> None:
    client = uuid4()
    contact = ClientContact(client, "c@mail.example", None, "en", "UTC", Channel.EMAIL)
    queued = await queue_followup_for(pool, clock, client)
    email = ScriptedProvider()
    couriers = courier(pool, clock, email=email, clients=KnownClients(**{str(client): contact}))
    slow_worker_copy = await claim_this(pool, clock, queued)
    clock.advance(LEASE + timedelta(seconds=1))
    second_worker_copy = await claim_this(pool, clock, queued)

    sent = await couriers.deliver(second_worker_copy)
    late = await couriers.deliver(slow_worker_copy)

    assert sent is not None
    assert sent.status is NotificationStatus.SENT
    assert late is None  # its outcome was dropped, not recorded twice
    # The provider did get it twice, recognisably the same message.
    assert [m.notification_id for m in email.calls] == [queued, queued]
    attempts = await pool.fetchval(
        "SELECT count(*) FROM notification_attempts WHERE notification_id = $1", queued
    )
    assert attempts == 1
    assert [e["type"] for e in await announced(pool, queued)] == ["NotificationSent"]


async def queue_followup_for(
    pool: asyncpg.Pool[Any], clock: ControllableClock, client: UUID
) -> UUID:
    requested = notification.request(
        notification_id=uuid4(),
        recipient_id=client,
        recipient_kind=RecipientKind.CLIENT,
        site_id=uuid4(),
        lane=Lane.BULK,
        channel=NotificationChannel.EMAIL,
        template=Template.FOLLOWUP_DUE,
        params={"kind": "checkin"},
        cause_event_id=uuid4(),
        now=clock.now(),
    )
    async with pool.acquire() as conn:
        await notification_store.add(conn, requested, {})
    return requested.notification_id


async def request_page(
    pool: asyncpg.Pool[Any], clock: ControllableClock, phone: str | None
) -> tuple[UUID, UUID]:
    site_id, staff_id, alert_id, page_id = uuid4(), uuid4(), uuid4(), uuid4()
    staff = StaffMember(
        staff_id, site_id, "On Call", StaffRole.CRISIS_LINE, "oc@c.org", phone, "en"
    )
    event = PageRequested(
        alert_id=alert_id, page_id=page_id, staff_id=staff_id, site_id=site_id, level=1
    )
    async with pool.acquire() as conn, conn.transaction():
        await directory_store.save_staff(conn, staff)
        uow = UnitOfWork(conn, source="notify", clock=clock)
        await page_handler("https://crisis.example")(
            uow, wrap(event, source="crisis", subject=alert_id), event
        )
    return staff_id, page_id


async def page_rows(pool: asyncpg.Pool[Any], page_id: UUID) -> dict[str, Notification]:
    rows = await pool.fetch("SELECT * FROM notifications WHERE page_id = $1", page_id)
    return {r["channel"]: notification_store.from_row(r) for r in rows}


async def test_a_page_whose_sms_fails_for_good_sends_its_email_now_not_at_its_retry(
    pool: asyncpg.Pool[Any], clock: ControllableClock
) -> None:
    _, page_id = await request_page(pool, clock, phone="+33600000000")
    email = ScriptedProvider(DeliveryOutcome.transient("smtp_451"))
    sms = ScriptedProvider(DeliveryOutcome.permanent("http_400"))
    couriers = courier(pool, clock, email=email, sms=sms)
    rows = await page_rows(pool, page_id)

    waiting = await couriers.deliver(await claim_this(pool, clock, rows["email"].id, Lane.CRISIS))
    assert waiting is not None
    assert waiting.next_attempt_at > clock.now() + timedelta(seconds=10)  # a slow retry

    clock.advance(timedelta(seconds=1))
    failed = await couriers.deliver(await claim_this(pool, clock, rows["sms"].id, Lane.CRISIS))
    assert failed is not None
    assert failed.status is NotificationStatus.FAILED

    expedited = (await page_rows(pool, page_id))["email"]
    assert expedited.next_attempt_at == clock.now()
    sent = await couriers.deliver(await claim_this(pool, clock, expedited.id, Lane.CRISIS))
    assert sent is not None
    assert sent.status is NotificationStatus.SENT
    failed_event = (await announced(pool, failed.id))[0]
    assert (failed_event["type"], failed_event["data"]["page_id"]) == (
        "NotificationFailed",
        str(page_id),
    )


async def test_a_staff_member_without_a_phone_still_gets_the_page_by_email(
    pool: asyncpg.Pool[Any], clock: ControllableClock
) -> None:
    _, page_id = await request_page(pool, clock, phone=None)
    couriers = courier(pool, clock)
    rows = await page_rows(pool, page_id)

    sms = await couriers.deliver(await claim_this(pool, clock, rows["sms"].id, Lane.CRISIS))
    email = await couriers.deliver(await claim_this(pool, clock, rows["email"].id, Lane.CRISIS))

    assert sms is not None
    assert (sms.status, sms.last_error) == (NotificationStatus.FAILED, "no_address")
    assert email is not None
    assert email.status is NotificationStatus.SENT


async def test_a_worker_stopped_mid_delivery_gives_the_message_back_at_once(
    pool: asyncpg.Pool[Any], clock: ControllableClock, database_url: str
) -> None:
    _, page_id = await request_page(pool, clock, phone="+33600000001")
    stuck = StuckProvider()
    workers = LaneWorkers(
        lane=Lane.CRISIS,
        size=1,
        pool=pool,
        dsn=database_url,
        schema=None,
        clock=clock,
        courier=courier(pool, clock, email=stuck, sms=stuck),
        lease=LEASE,
        idle_poll=0.05,
    )
    running = asyncio.create_task(workers.run())
    await asyncio.wait_for(stuck.called.wait(), 10)

    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    claimed = await pool.fetchval(
        "SELECT count(*) FROM notifications WHERE page_id = $1 AND claimed_until IS NOT NULL",
        page_id,
    )
    assert claimed == 0
    assert {r.status for r in (await page_rows(pool, page_id)).values()} == {
        NotificationStatus.PENDING
    }


class CrashingProvider:
    """A provider whose client raises something nobody expected."""

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        self.calls += 1
        raise RuntimeError("provider client bug")


async def test_a_crashed_delivery_gives_its_lease_back_at_once_as_a_counted_attempt(
    pool: asyncpg.Pool[Any], clock: ControllableClock, database_url: str
) -> None:
    _, page_id = await request_page(pool, clock, phone="+33600000002")
    crashing = CrashingProvider()
    workers = LaneWorkers(
        lane=Lane.CRISIS,
        size=1,
        pool=pool,
        dsn=database_url,
        schema=None,
        clock=clock,
        courier=courier(pool, clock, email=crashing, sms=crashing),
        lease=LEASE,
        idle_poll=0.05,
        retry_delay=0.05,
    )
    running = asyncio.create_task(workers.run())
    try:

        async def both_attempted() -> bool:
            rows = await page_rows(pool, page_id)
            return all(r.attempts >= 1 for r in rows.values())

        await eventually_true(both_attempted)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    claimed = await pool.fetchval(
        "SELECT count(*) FROM notifications WHERE page_id = $1 AND claimed_until IS NOT NULL",
        page_id,
    )
    assert claimed == 0  # not held for the lease (LEASE) after the crash
    rows = await page_rows(pool, page_id)
    assert {r.last_error for r in rows.values()} == {"delivery_crashed"}
    assert {r.status for r in rows.values()} == {NotificationStatus.PENDING}  # retried later


async def eventually_true(check: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.05)


async def test_a_due_message_locked_by_another_transaction_does_not_spin_the_workers(
    pool: asyncpg.Pool[Any], clock: ControllableClock, database_url: str
) -> None:
    claims = 0

    class CountingWorkers(LaneWorkers):
        async def claim(self) -> tuple[Notification, dict[str, str]] | None:
            nonlocal claims
            claims += 1
            return await super().claim()

    notification_id = await queue_followup(pool, clock)
    workers = CountingWorkers(
        lane=Lane.BULK,
        size=1,
        pool=pool,
        dsn=database_url,
        schema=None,
        clock=clock,
        courier=courier(pool, clock),
        lease=LEASE,
    )
    async with pool.acquire() as holder, holder.transaction():
        # Another transaction holds the due row: SKIP LOCKED finds nothing to claim.
        await holder.execute(
            "SELECT 1 FROM notifications WHERE id = $1 FOR UPDATE", notification_id
        )
        running = asyncio.create_task(workers.run())
        await asyncio.sleep(2.0)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    # Backing off while the row is locked: a handful of claims in 2 s, not thousands.
    assert claims <= 12, f"{claims} claims in 2 s while the due message was locked"
