"""A lane at idle: one worker looks by time, at long intervals while its LISTEN connection is up
and short ones while it is down, and nothing queued, retried or left by a dead replica waits
for the long poll."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from counseling_shared.clock import SystemClock
from counseling_shared.codes import Channel, NotificationChannel
from counseling_shared.db import connect, create_pool
from counseling_shared.migrations import apply_migrations
from notify.adapters import notification_store
from notify.adapters.templates import JinjaRenderer
from notify.application.delivery import Courier
from notify.application.ports import ClientContact, OutgoingMessage
from notify.bootstrap import MIGRATIONS
from notify.domain.codes import Lane
from notify.domain.notification import DeliveryOutcome
from notify.domain.retry import RetryPolicy
from notify.entrypoints.workers import LaneWorkers
from tests.notify.integration.test_claims import KnownClients, ScriptedProvider, bulk_checkin

pytestmark = pytest.mark.integration

LONG = 60.0  # a poll no test here may wait for
NOBODY_LISTENS = "postgresql://nobody@127.0.0.1:1/nothing"  # the LISTEN never connects


@pytest.fixture(scope="module")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    conn = await connect(database_url)
    await apply_migrations(conn, MIGRATIONS)
    await conn.close()
    pool = await create_pool(database_url, max_size=12)
    yield pool
    await pool.close()


@pytest.fixture
async def clean(pool: asyncpg.Pool[Any]) -> asyncpg.Pool[Any]:
    """Nothing left pending by the tests before."""
    await pool.execute("UPDATE notifications SET status = 'failed' WHERE status = 'pending'")
    return pool


class CountingWorkers(LaneWorkers):
    """Lane workers that count their claim statements."""

    claims = 0

    async def _claim(self, most: int) -> list[notification_store.Claimed]:
        self.claims += 1
        return await super()._claim(most)


class GatedProvider:
    """Holds every send until released, counting how many are in flight at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self.sent = 0

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        self.sent += 1
        return DeliveryOutcome.sent()


def workers(
    pool: asyncpg.Pool[Any],
    dsn: str,
    email: Any,
    clients: KnownClients,
    *,
    size: int = 4,
    retry_base: timedelta = timedelta(seconds=30),
    **options: Any,
) -> CountingWorkers:
    courier = Courier(
        pool=pool,
        clock=SystemClock(),
        directory=clients,
        providers={
            NotificationChannel.EMAIL: email,
            NotificationChannel.SMS: ScriptedProvider(),
            NotificationChannel.MESSAGING: ScriptedProvider(),
        },
        renderer=JinjaRenderer(),
        retry=RetryPolicy(max_attempts=4, base=retry_base, max_delay=timedelta(minutes=5)),
        jitter=lambda: 1.0,
    )
    return CountingWorkers(
        lane=Lane.BULK,
        size=size,
        pool=pool,
        dsn=dsn,
        schema=None,
        clock=SystemClock(),
        courier=courier,
        lease=timedelta(seconds=30),
        **options,
    )


def known_clients(count: int) -> KnownClients:
    ids = [uuid4() for _ in range(count)]
    return KnownClients(
        **{
            str(c): ClientContact(c, f"c{n}@mail.example", None, "en", "UTC", Channel.EMAIL)
            for n, c in enumerate(ids)
        }
    )


async def queue(pool: asyncpg.Pool[Any], client: UUID) -> UUID:
    """A bulk email to `client`, due now; its transaction sends the lane's NOTIFY."""
    requested = bulk_checkin(client, SystemClock().now())
    async with pool.acquire() as conn:
        await notification_store.add(conn, requested, {})
    return requested.notification_id


@contextlib.asynccontextmanager
async def running(lane: LaneWorkers) -> AsyncIterator[None]:
    task = asyncio.create_task(lane.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def listening(pool: asyncpg.Pool[Any]) -> None:
    channel = notification_store.wake_channel(Lane.BULK)
    for _ in range(100):
        if await pool.fetchval(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE query = $1", f'LISTEN "{channel}"'
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the lane never listened")


async def until(check: Any, within: float) -> float:
    """Seconds until `check()` holds; fails after `within`."""
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < within, f"not within {within} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - began


async def test_of_a_lanes_idle_workers_only_one_looks_by_time(
    clean: asyncpg.Pool[Any], database_url: str
) -> None:
    lane = workers(
        clean, database_url, ScriptedProvider(), KnownClients(), idle_poll=0.1, listening_poll=0.1
    )
    async with running(lane):
        await listening(clean)
        await asyncio.sleep(0.5)  # every worker has looked once and gone idle
        before = lane.claims
        await asyncio.sleep(2.0)
        looks = lane.claims - before

    # One worker every 0.1 s: about 20 looks; each of the four on its own poll was 80.
    assert looks <= 30, f"{looks} claims in 2 s by an idle lane of four workers"
    assert looks >= 5, f"{looks} claims in 2 s: nobody polls"


async def test_a_message_queued_while_the_listener_is_down_goes_out_within_the_short_poll(
    clean: asyncpg.Pool[Any],
) -> None:
    clients = known_clients(1)
    email = ScriptedProvider()
    lane = workers(clean, NOBODY_LISTENS, email, clients, idle_poll=0.2, listening_poll=LONG)
    async with running(lane):
        await asyncio.sleep(0.5)  # idle, its LISTEN failing
        await queue(clean, next(iter(clients.known)))  # its NOTIFY reaches nobody
        waited = await until(lambda: email.calls, within=5.0)

    assert waited < 2.0, f"sent {waited:.2f} s after it was queued"


async def test_a_message_queued_while_the_listener_is_up_goes_out_at_once(
    clean: asyncpg.Pool[Any], database_url: str
) -> None:
    clients = known_clients(1)
    email = ScriptedProvider()
    lane = workers(clean, database_url, email, clients, idle_poll=LONG, listening_poll=LONG)
    async with running(lane):
        await listening(clean)
        await asyncio.sleep(0.5)  # idle, asleep on the long poll
        before = lane.claims
        await queue(clean, next(iter(clients.known)))
        waited = await until(lambda: email.calls, within=5.0)

    assert waited < 2.0, f"sent {waited:.2f} s after it was queued"
    assert lane.claims - before <= 3


async def test_a_retry_goes_out_at_its_time_while_another_worker_polls_long(
    clean: asyncpg.Pool[Any], database_url: str
) -> None:
    clients = known_clients(1)
    email = ScriptedProvider(DeliveryOutcome.transient("smtp_451"))
    lane = workers(
        clean,
        database_url,
        email,
        clients,
        retry_base=timedelta(seconds=1),
        idle_poll=LONG,
        listening_poll=LONG,
    )
    async with running(lane):
        await listening(clean)
        await asyncio.sleep(0.5)  # one worker polls on the long poll, three wait
        await queue(clean, next(iter(clients.known)))
        await until(lambda: email.calls, within=5.0)
        failed_at = time.monotonic()
        await until(lambda: len(email.calls) >= 2, within=10.0)
        retried_after = time.monotonic() - failed_at

    # No NOTIFY announces a retry: the worker that scheduled it looks again at its time.
    assert 0.8 < retried_after < 4.0, f"retried {retried_after:.2f} s after the failure"


async def test_a_message_leased_by_a_dead_replica_goes_out_when_the_lease_ends(
    clean: asyncpg.Pool[Any], database_url: str
) -> None:
    clients = known_clients(1)
    email = ScriptedProvider()
    queued = await queue(clean, next(iter(clients.known)))
    # Claimed by a replica that died: its lease runs out in 1.5 s, and nobody says so.
    await clean.execute(
        "UPDATE notifications SET claimed_until = now() + interval '1.5 s' WHERE id = $1", queued
    )
    began = time.monotonic()
    lane = workers(clean, database_url, email, clients, idle_poll=LONG, listening_poll=LONG)
    async with running(lane):
        await until(lambda: email.calls, within=10.0)
        waited = time.monotonic() - began

    assert 1.0 < waited < 5.0, f"sent {waited:.2f} s after the lease was set to end in 1.5 s"


async def test_eight_messages_queued_at_once_draw_in_every_worker(
    clean: asyncpg.Pool[Any], database_url: str
) -> None:
    clients = known_clients(8)
    email = GatedProvider()
    lane = workers(clean, database_url, email, clients, size=4, idle_poll=LONG, listening_poll=LONG)
    async with running(lane):
        await listening(clean)
        await asyncio.sleep(0.5)  # all four idle; no poll would come in this test
        async with clean.acquire() as conn, conn.transaction():
            for client in clients.known:
                await notification_store.add(conn, bulk_checkin(client, SystemClock().now()), {})
        await until(lambda: email.in_flight == 4, within=5.0)
        email.release.set()
        await until(lambda: email.sent == 8, within=5.0)

    assert email.most_in_flight == 4
