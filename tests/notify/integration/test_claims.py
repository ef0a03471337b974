"""Claims, leases and page failover against real PostgreSQL, with the providers faked (no NATS:
the directory is faked too, and delivery is driven step by step with a controllable clock)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast
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
from notify.adapters import directory_store, notification_store, webhook_store
from notify.adapters.templates import JinjaRenderer
from notify.adapters.webhook_sender import WebhookSender
from notify.application.delivery import Courier
from notify.application.erasure import erase_client
from notify.application.handlers import page_handler
from notify.application.ports import (
    ClientContact,
    ClientNotFound,
    ContactAnswer,
    OutgoingMessage,
)
from notify.application.webhooks import WebhookCourier
from notify.bootstrap import MIGRATIONS
from notify.domain import notification
from notify.domain.codes import Lane, NotificationStatus, RecipientKind, Template
from notify.domain.notification import DeliveryOutcome, Notification
from notify.domain.recipients import StaffMember
from notify.domain.retry import RetryPolicy
from notify.domain.webhooks.delivery import WebhookRetryPolicy
from notify.entrypoints.page_priority import PagesFirst
from notify.entrypoints.webhook_worker import WebhookWorker
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
        self.known = {UUID(k): v for k, v in contacts.items()}
        self.batches: list[list[UUID]] = []

    async def contact(self, client_id: UUID) -> ClientContact:
        if client_id not in self.known:
            raise ClientNotFound(str(client_id))
        return self.known[client_id]

    async def contacts(self, client_ids: Sequence[UUID]) -> list[ContactAnswer]:
        self.batches.append(list(client_ids))
        return [self.known.get(c) or ClientNotFound(str(c)) for c in client_ids]


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
    lookups: Any = None,
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
        lookups=lookups,
    )


W = TypeVar("W", bound=LaneWorkers)


def lane_workers(
    kind: type[W],
    pool: asyncpg.Pool[Any],
    clock: ControllableClock,
    database_url: str,
    *,
    lane: Lane,
    size: int = 1,
    delivery: Courier | None = None,
    **options: Any,
) -> W:
    """A lane's workers on the test database (the scripted providers unless `delivery`)."""
    return kind(
        lane=lane,
        size=size,
        pool=pool,
        dsn=database_url,
        schema=None,
        clock=clock,
        courier=delivery or courier(pool, clock),
        lease=LEASE,
        **options,
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


def bulk_checkin(client: UUID, now: datetime) -> notification.NotificationRequested:
    """A bulk check-in email to `client`, due at `now`."""
    return notification.request(
        notification_id=uuid4(),
        recipient_id=client,
        recipient_kind=RecipientKind.CLIENT,
        site_id=uuid4(),
        lane=Lane.BULK,
        channel=NotificationChannel.EMAIL,
        template=Template.FOLLOWUP_DUE,
        params={"kind": "checkin"},
        cause_event_id=uuid4(),
        now=now,
    )


async def queue_followup_for(
    pool: asyncpg.Pool[Any], clock: ControllableClock, client: UUID
) -> UUID:
    requested = bulk_checkin(client, clock.now())
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
    workers = lane_workers(
        LaneWorkers,
        pool,
        clock,
        database_url,
        lane=Lane.CRISIS,
        delivery=courier(pool, clock, email=stuck, sms=stuck),
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
    workers = lane_workers(
        LaneWorkers,
        pool,
        clock,
        database_url,
        lane=Lane.CRISIS,
        delivery=courier(pool, clock, email=crashing, sms=crashing),
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


class CountingWorkers(LaneWorkers):
    """Lane workers that count their claims (every claim statement goes through `_claim`)."""

    claims = 0

    async def _claim(self, most: int) -> list[notification_store.Claimed]:
        self.claims += 1
        return await super()._claim(most)


async def test_a_due_message_locked_by_another_transaction_does_not_spin_the_workers(
    pool: asyncpg.Pool[Any], clock: ControllableClock, database_url: str
) -> None:
    notification_id = await queue_followup(pool, clock)
    workers = lane_workers(CountingWorkers, pool, clock, database_url, lane=Lane.BULK)
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
    claims = workers.claims
    assert claims <= 12, f"{claims} claims in 2 s while the due message was locked"


async def test_a_queued_message_wakes_one_idle_worker_not_the_whole_lane(
    pool: asyncpg.Pool[Any], clock: ControllableClock, database_url: str
) -> None:
    workers = lane_workers(
        CountingWorkers,
        pool,
        clock,
        database_url,
        lane=Lane.BULK,
        size=4,
        idle_poll=60.0,  # no polling in this test: only wake-ups claim
    )
    running = asyncio.create_task(workers.run())
    try:
        for _ in range(100):  # every worker has looked once and gone idle
            if workers.claims >= 4:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        before = workers.claims
        notification_id = await queue_followup(pool, clock)  # it wakes the lane, once
        for _ in range(100):
            status = await pool.fetchval(
                "SELECT status FROM notifications WHERE id = $1", notification_id
            )
            if status != "pending":
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    # The woken worker's claim, the one more it draws in, and its look after delivering;
    # with every idle worker woken it was five (four claims, then the deliverer's look).
    assert status != "pending"
    claims = workers.claims - before
    assert claims <= 3, f"{claims} claims for one queued message"


async def a_due_webhook(
    pool: asyncpg.Pool[Any], clock: ControllableClock
) -> webhook_store.Subscription:
    """A subscription with one delivery queued and due now."""
    async with pool.acquire() as conn:
        subscription = await webhook_store.add_subscription(
            conn,
            site_id=uuid4(),
            url="http://127.0.0.1:9/hook",
            event_types=["AppointmentBooked"],
            secret="s" * 32,
            created_by="test",
            now=clock.now(),
        )
        await webhook_store.enqueue(
            conn,
            site_id=subscription.site_id,
            event_id=uuid4(),
            event_type="AppointmentBooked",
            body="{}",
            now=clock.now(),
        )
    return subscription


async def test_a_webhook_head_leased_by_another_replica_does_not_spin_the_webhook_worker(
    pool: asyncpg.Pool[Any], clock: ControllableClock, database_url: str
) -> None:
    rounds = 0

    class NeverCalled:
        async def attempt(self, claimed: webhook_store.ClaimedDelivery) -> None:
            raise AssertionError("a head leased by another replica was attempted")

    class CountingWorker(WebhookWorker):
        async def deliver_due(self) -> int:
            nonlocal rounds
            rounds += 1
            return await super().deliver_due()

    subscription = await a_due_webhook(pool, clock)
    async with pool.acquire() as conn:
        # Another replica is attempting the due head: its lease runs far beyond the test.
        await conn.execute(
            "UPDATE webhook_subscriptions SET claimed_until = $2 WHERE id = $1",
            subscription.id,
            clock.now() + timedelta(hours=1),
        )
    worker = CountingWorker(
        pool=pool,
        dsn=database_url,
        schema=None,
        clock=clock,
        courier=cast(WebhookCourier, NeverCalled()),
        lease=LEASE,
        concurrency=4,
    )
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(2.0)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await pool.execute(
            "DELETE FROM webhook_deliveries WHERE subscription_id = $1", subscription.id
        )
        await pool.execute("DELETE FROM webhook_subscriptions WHERE id = $1", subscription.id)

    # It looks again when the lease runs out (at most every idle poll), not 20 times a second.
    assert rounds <= 6, f"{rounds} rounds in 2 s while the due head was leased elsewhere"


class CrashingSender:
    """A sender that fails in notify itself (a bug, or a body it cannot send), every time."""

    def __init__(self) -> None:
        self.calls = 0

    async def post(self, url: str, body: str, headers: dict[str, str]) -> Any:
        self.calls += 1
        raise UnicodeEncodeError("ascii", "é", 0, 1, "a header notify cannot send")


async def test_a_webhook_attempt_that_crashes_is_a_counted_failed_attempt_not_a_loop(
    pool: asyncpg.Pool[Any], clock: ControllableClock, database_url: str
) -> None:
    """Before, a crash inside the attempt was not recorded: the lease ran out and the same
    crash came back forever, never counted, holding the subscription's later deliveries."""
    sender = CrashingSender()
    policy = WebhookRetryPolicy(
        base=timedelta(seconds=30), max_delay=timedelta(minutes=5), window=timedelta(hours=24)
    )
    courier = WebhookCourier(
        pool=pool, clock=clock, sender=cast(WebhookSender, sender), policy=policy
    )
    subscription = await a_due_webhook(pool, clock)
    worker = WebhookWorker(
        pool=pool,
        dsn=database_url,
        schema=None,
        clock=clock,
        courier=courier,
        lease=LEASE,
        concurrency=4,
    )
    try:
        assert await worker.deliver_due() == 1
        row = await pool.fetchrow(
            """SELECT d.status, d.attempts, d.next_attempt_at, a.error
               FROM webhook_deliveries d JOIN webhook_attempts a ON a.delivery_id = d.id
               WHERE d.subscription_id = $1""",
            subscription.id,
        )
        assert row is not None
        assert (row["status"], row["attempts"], row["error"]) == ("pending", 1, "internal_error")
        # Retried after its back-off, as any failed attempt, not at once and not never.
        assert clock.now() < row["next_attempt_at"] <= clock.now() + timedelta(seconds=31)
        assert await worker.deliver_due() == 0, "not due again before its back-off"
        assert sender.calls == 1
    finally:
        await pool.execute(
            """DELETE FROM webhook_attempts WHERE delivery_id IN
                   (SELECT id FROM webhook_deliveries WHERE subscription_id = $1)""",
            subscription.id,
        )
        await pool.execute(
            "DELETE FROM webhook_deliveries WHERE subscription_id = $1", subscription.id
        )
        await pool.execute("DELETE FROM webhook_subscriptions WHERE id = $1", subscription.id)


async def test_the_bulk_lane_claims_nothing_new_while_a_page_is_being_delivered(
    pool: asyncpg.Pool[Any], clock: ControllableClock, database_url: str
) -> None:
    pages = PagesFirst(longest_hold=30.0)
    workers = lane_workers(
        LaneWorkers, pool, clock, database_url, lane=Lane.BULK, size=2, pages=pages
    )
    queued = await queue_followup(pool, clock)

    async def attempts() -> int:
        found: int = await pool.fetchval("SELECT attempts FROM notifications WHERE id = $1", queued)
        return found

    running = asyncio.create_task(workers.run())
    try:
        with pages.delivering():
            await asyncio.sleep(0.5)  # the workers have started and would have claimed it
            during_the_page = await attempts()
        for _ in range(200):
            if await attempts():
                break
            await asyncio.sleep(0.05)
        after_the_page = await attempts()
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    assert (during_the_page, after_the_page) == (0, 1)


class CountingPool:
    """A pool whose connections count round trips: each statement, and BEGIN and COMMIT of
    each transaction."""

    _STATEMENTS = ("execute", "executemany", "fetch", "fetchrow", "fetchval")

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool
        self.round_trips = 0

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self._pool.acquire() as conn:
            yield _CountingConnection(conn, self)


class _CountingConnection:
    def __init__(self, conn: Any, counter: CountingPool) -> None:
        self._conn = conn
        self._counter = counter

    def transaction(self) -> Any:
        self._counter.round_trips += 2  # BEGIN, then COMMIT (or ROLLBACK)
        return self._conn.transaction()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._conn, name)
        if name not in CountingPool._STATEMENTS:
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self._counter.round_trips += 1
            return await attr(*args, **kwargs)

        return counted


async def test_a_confirmation_costs_two_round_trips_its_claim_with_facts_and_its_outcome(
    pool: asyncpg.Pool[Any], clock: ControllableClock
) -> None:
    client = uuid4()
    contact = ClientContact(client, "c@mail.example", None, "en", "UTC", Channel.EMAIL)
    queued = await queue_followup_for(pool, clock, client)
    counting = CountingPool(pool)
    couriers = courier(
        cast("asyncpg.Pool[Any]", counting), clock, clients=KnownClients(**{str(client): contact})
    )
    async with counting.acquire() as conn:
        claimed = await notification_store.claim(conn, Lane.BULK, clock.now(), clock.now() + LEASE)
    assert claimed is not None
    assert claimed.notification.id == queued

    sent = await couriers.deliver(*claimed)

    assert sent is not None
    assert sent.status is NotificationStatus.SENT
    # The claim, with the recipient's facts; then the events, row, attempt and announcement in
    # one statement, outside any transaction (BEGIN and COMMIT would be two more).
    assert counting.round_trips == 2
    row = await pool.fetchrow(
        "SELECT status, version, claimed_until FROM notifications WHERE id = $1", queued
    )
    assert row is not None
    assert (row["status"], row["version"], row["claimed_until"]) == ("sent", sent.version, None)
    versions = await pool.fetch(
        "SELECT version, type FROM events WHERE stream_id = $1 ORDER BY version",
        notification_store.stream_id(queued),
    )
    assert [r["version"] for r in versions] == list(range(1, sent.version + 1))
    attempts = await pool.fetch(
        "SELECT number, outcome FROM notification_attempts WHERE notification_id = $1", queued
    )
    assert [(a["number"], a["outcome"]) for a in attempts] == [(1, "sent")]
    assert [e["type"] for e in await announced(pool, queued)] == ["NotificationSent"]


async def test_an_outcome_for_a_client_erased_mid_delivery_leaves_nothing_behind(
    pool: asyncpg.Pool[Any], clock: ControllableClock
) -> None:
    client = uuid4()
    contact = ClientContact(client, "c@mail.example", None, "en", "UTC", Channel.EMAIL)
    queued = await queue_followup_for(pool, clock, client)
    couriers = courier(pool, clock, clients=KnownClients(**{str(client): contact}))
    claimed = await claim_this(pool, clock, queued)
    async with pool.acquire() as conn:
        await erase_client(conn, client)

    assert await couriers.deliver(claimed) is None

    left = await pool.fetchval(
        "SELECT count(*) FROM events WHERE stream_id = $1", notification_store.stream_id(queued)
    )
    assert left == 0, "no event of the erased client's notification outlives the erasure"
    assert await announced(pool, queued) == []
    attempts = await pool.fetchval(
        "SELECT count(*) FROM notification_attempts WHERE notification_id = $1", queued
    )
    assert attempts == 0
