"""The outbox relay: everything committed reaches JetStream exactly once, in outbox order."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from prometheus_client import REGISTRY

from counseling_shared.clock import SystemClock
from counseling_shared.envelope import Envelope
from counseling_shared.relay import OutboxRelay
from counseling_shared.unit_of_work import unit_of_work
from devstack.handles import NatsHandle
from tests.shared.integration.support import eventually, messages_on, session_completed

pytestmark = pytest.mark.integration


class Crash(Exception):
    """Stands for the process dying."""


async def commit(pool: asyncpg.Pool[Any], site_id: UUID, appointments: list[UUID]) -> list[UUID]:
    """One transaction publishing one SessionCompleted per appointment; their event ids."""
    async with unit_of_work(pool, source="booking", clock=SystemClock()) as uow:
        envelopes = [uow.publish(session_completed(site_id, a), subject=a) for a in appointments]
    return [e.id for e in envelopes]


async def delivered_ids(js: JetStreamContext, site_id: UUID) -> list[UUID]:
    msgs = await messages_on(js, "BOOKING", f"booking.{site_id}.>")
    for msg in msgs:
        assert msg.headers is not None
        assert msg.headers["Nats-Msg-Id"] == str(Envelope.model_validate_json(msg.data).id)
    return [Envelope.model_validate_json(m.data).id for m in msgs]


async def unpublished(pool: asyncpg.Pool[Any], ids: list[UUID]) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE event_id = ANY($1) AND published_at IS NULL", ids
    )
    return count


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Crash):
            await task


def relay_for(pool: asyncpg.Pool[Any], js: JetStreamContext, url: str, **kw: Any) -> OutboxRelay:
    return OutboxRelay(pool, js, dsn=url, **kw)


async def test_a_committed_event_is_published_once_to_its_subject(
    pool: asyncpg.Pool[Any], js: JetStreamContext, migrated_url: str
) -> None:
    site = uuid4()
    ids = await commit(pool, site, [uuid4(), uuid4(), uuid4()])

    relay = relay_for(pool, js, migrated_url)
    assert await relay.drain_once() == 3
    assert await relay.drain_once() == 0

    assert await delivered_ids(js, site) == ids
    assert await unpublished(pool, ids) == 0
    on_subject = await messages_on(js, "BOOKING", f"booking.{site}.SessionCompleted")
    assert len(on_subject) == 3


async def test_a_relay_that_dies_between_ack_and_mark_publishes_nothing_twice(
    pool: asyncpg.Pool[Any], js: JetStreamContext, migrated_url: str
) -> None:
    class DiesAfterAck(OutboxRelay):
        async def _after_publish(self, acked: int) -> None:
            raise Crash

    site = uuid4()
    ids = await commit(pool, site, [uuid4() for _ in range(5)])

    with pytest.raises(Crash):
        await DiesAfterAck(pool, js, dsn=migrated_url).drain_once()
    assert await unpublished(pool, ids) == 5, "the mark must not survive the crash"
    assert await delivered_ids(js, site) == ids, "JetStream acked before the crash"

    assert await relay_for(pool, js, migrated_url).drain_once() == 5

    assert await delivered_ids(js, site) == ids, "the republish was not dropped as a duplicate"
    assert await unpublished(pool, ids) == 0


async def test_a_relay_cancelled_between_ack_and_mark_is_drained_by_the_next_one(
    pool: asyncpg.Pool[Any], js: JetStreamContext, migrated_url: str
) -> None:
    parked = asyncio.Event()

    class ParksAfterAck(OutboxRelay):
        async def _after_publish(self, acked: int) -> None:
            parked.set()
            await asyncio.Event().wait()  # until the task is cancelled

    site = uuid4()
    ids = await commit(pool, site, [uuid4(), uuid4()])
    async with running(ParksAfterAck(pool, js, dsn=migrated_url)):
        await asyncio.wait_for(parked.wait(), 5.0)
    assert await unpublished(pool, ids) == 2

    async with running(relay_for(pool, js, migrated_url)):
        await eventually(lambda: _none_left(pool, ids))

    assert await delivered_ids(js, site) == ids


async def test_a_rolled_back_transaction_publishes_nothing(
    pool: asyncpg.Pool[Any], js: JetStreamContext, migrated_url: str
) -> None:
    site = uuid4()

    async def change_that_fails() -> Envelope:
        async with unit_of_work(pool, source="booking", clock=SystemClock()) as uow:
            lost = uow.publish(session_completed(site), subject="a")
            await uow.flush()  # the outbox row exists inside the transaction...
            raise Crash(lost.id)  # ...which then rolls back

    with pytest.raises(Crash) as raised:
        await change_that_fails()
    [lost_id] = raised.value.args
    async with running(relay_for(pool, js, migrated_url)):
        [sentinel] = await commit(pool, site, [uuid4()])
        await eventually(lambda: _none_left(pool, [sentinel]))

    assert await delivered_ids(js, site) == [sentinel]
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE event_id = $1", lost_id) == 0


async def test_a_commit_wakes_the_relay_long_before_its_poll_interval(
    pool: asyncpg.Pool[Any], nc: NatsClient, js: JetStreamContext, migrated_url: str
) -> None:
    site = uuid4()
    sub = await nc.subscribe(f"booking.{site}.>")
    relay = relay_for(pool, js, migrated_url, poll_interval=30.0)
    async with running(relay):
        await eventually(lambda: _relay_listening(pool))
        await asyncio.sleep(0.2)  # let the relay fall asleep on its 30 s poll
        committed = time.monotonic()
        [event_id] = await commit(pool, site, [uuid4()])
        msg = await sub.next_msg(timeout=5.0)
        latency = time.monotonic() - committed
    await sub.unsubscribe()

    assert Envelope.model_validate_json(msg.data).id == event_id
    assert latency < 2.0, f"published {latency:.2f} s after commit"


async def test_a_relay_stops_when_cancelled_just_as_it_is_woken(
    pool: asyncpg.Pool[Any], js: JetStreamContext, migrated_url: str
) -> None:
    # Python 3.11's asyncio.wait_for returns the result instead of raising when the awaited
    # thing completes in the same loop step as the cancel: the loop would go on forever.
    relay = relay_for(pool, js, migrated_url, poll_interval=30.0)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _relay_listening(pool))
        await asyncio.sleep(0.2)
        relay.wake()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=3.0)
        assert task in done, "the relay ignored its cancellation"
    finally:
        task.cancel()


@pytest.fixture
def nats_comes_back(nats_server: NatsHandle) -> Iterator[NatsHandle]:
    """Make sure the session's NATS is up again even when the test fails midway."""
    yield nats_server
    nats_server.start()


async def test_events_committed_while_nats_is_down_flow_once_in_order_when_it_returns(
    pool: asyncpg.Pool[Any],
    nc: NatsClient,
    js: JetStreamContext,
    migrated_url: str,
    nats_comes_back: NatsHandle,
) -> None:
    site = uuid4()
    # Its LISTEN stays up the whole time: the rows left behind are retried at the short
    # interval all the same (no NOTIFY announces them), not after `listening_poll`.
    relay = relay_for(
        pool, js, migrated_url, publish_timeout=0.5, retry_delay=0.2, listening_poll=60.0
    )
    appointments = [uuid4() for _ in range(3)]
    async with running(relay):
        [before] = await commit(pool, site, [appointments[0]])
        await eventually(lambda: _none_left(pool, [before]))

        nats_comes_back.kill()
        during: list[UUID] = []
        for _ in range(4):  # several transactions, each touching every appointment
            during += await commit(pool, site, appointments)
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # several failed drain attempts
        assert await unpublished(pool, during) == len(during), "published while NATS was down"

        nats_comes_back.start()
        await eventually(lambda: _none_left(pool, during), timeout=20.0)

    delivered = await delivered_ids(js, site)
    assert delivered == [before, *during], "lost, doubled or reordered"
    assert nc.is_connected


async def _none_left(pool: asyncpg.Pool[Any], ids: list[UUID]) -> bool:
    return await unpublished(pool, ids) == 0


async def _relay_listening(pool: asyncpg.Pool[Any]) -> bool:
    found: bool = await pool.fetchval(
        """SELECT count(*) > 0 FROM pg_stat_activity
           WHERE datname = current_database() AND query = 'LISTEN "outbox"'"""
    )
    return found


async def test_rows_that_can_never_be_published_are_dead_lettered_and_the_rest_flow(
    pool: asyncpg.Pool[Any], nc: NatsClient, js: JetStreamContext, migrated_url: str
) -> None:
    site = uuid4()
    [first] = await commit(pool, site, [uuid4()])
    too_large, no_stream = uuid4(), uuid4()
    await pool.executemany(
        """INSERT INTO outbox (event_id, stream, subject, payload) VALUES ($1, $2, $3, $4)""",
        [
            (too_large, "BOOKING", f"booking.{site}.SessionCompleted", b"x" * (nc.max_payload + 1)),
            # Its stream exists but takes no such subject (a missing stream is waited for:
            # test_relay_recovery.py).
            (no_stream, "BOOKING", f"nosuch.{site}.Nothing", b"{}"),
        ],
    )
    [last] = await commit(pool, site, [uuid4()])
    counted_before = {r: _dead_lettered(r) for r in ("too_large", "no_stream")}

    async with running(relay_for(pool, js, migrated_url, publish_timeout=1.0, retry_delay=0.1)):
        await eventually(lambda: _none_left(pool, [last]), timeout=15.0)

    counted = {r: _dead_lettered(r) - n for r, n in counted_before.items()}
    assert counted == {"too_large": 1, "no_stream": 1}, "the metric the alert rule reads"

    assert await delivered_ids(js, site) == [first, last]
    letters = await pool.fetch(
        "SELECT event_id, reason FROM outbox_dead_letters WHERE event_id = ANY($1)",
        [too_large, no_stream],
    )
    assert {r["event_id"]: r["reason"] for r in letters} == {
        too_large: "too_large",
        no_stream: "no_stream",
    }
    left = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE event_id = ANY($1)", [too_large, no_stream]
    )
    assert left == 0


def _dead_lettered(reason: str) -> float:
    return REGISTRY.get_sample_value("outbox_dead_letters_total", {"reason": reason}) or 0.0


async def test_a_publish_failing_mid_batch_keeps_each_aggregates_order(
    pool: asyncpg.Pool[Any], js: JetStreamContext, migrated_url: str
) -> None:
    failed_once: set[UUID] = set()

    class NacksOnce(OutboxRelay):
        """JetStream answers the first publish of one event with an error (a transient one)."""

        async def _send(self, row: asyncpg.Record) -> asyncio.Future[Any]:
            if row["event_id"] == flaky and flaky not in failed_once:
                failed_once.add(flaky)
                future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                future.set_exception(nats.errors.TimeoutError())
                return future
            return await super()._send(row)

    site = uuid4()
    a, b = uuid4(), uuid4()
    ids = await commit(pool, site, [a, b, a, b, a])
    flaky = ids[0]  # a's first event

    relay = NacksOnce(pool, js, dsn=migrated_url, publish_timeout=1.0, retry_delay=0.1)
    async with running(relay):
        await eventually(lambda: _none_left(pool, ids), timeout=15.0)

    delivered = await delivered_ids(js, site)
    assert sorted(delivered) == sorted(ids), "lost or doubled"
    by_aggregate = {a: [ids[0], ids[2], ids[4]], b: [ids[1], ids[3]]}
    for aggregate, expected in by_aggregate.items():
        assert [i for i in delivered if i in expected] == expected, f"{aggregate} reordered"
    assert failed_once == {flaky}


NOBODY_LISTENS = "postgresql://nobody@127.0.0.1:1/nothing"  # the LISTEN never connects


async def test_a_relay_whose_listen_is_down_publishes_within_its_short_poll(
    pool: asyncpg.Pool[Any], nc: NatsClient, js: JetStreamContext
) -> None:
    site = uuid4()
    sub = await nc.subscribe(f"booking.{site}.>")
    relay = relay_for(pool, js, NOBODY_LISTENS, poll_interval=0.2, listening_poll=60.0)
    async with running(relay):
        await asyncio.sleep(0.5)
        committed = time.monotonic()
        [event_id] = await commit(pool, site, [uuid4()])  # its NOTIFY reaches nobody
        msg = await sub.next_msg(timeout=5.0)
        latency = time.monotonic() - committed
    await sub.unsubscribe()

    assert Envelope.model_validate_json(msg.data).id == event_id
    assert latency < 2.0, f"published {latency:.2f} s after commit"


class CountingRelay(OutboxRelay):
    """Counts its drains (a transaction each) and its looks by time (`_anything_waiting`)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.drains = 0
        self.looks = 0

    async def drain_once(self) -> int:
        self.drains += 1
        return await super().drain_once()

    async def _anything_waiting(self) -> bool:
        self.looks += 1
        return await super()._anything_waiting()


async def test_a_listening_relay_does_not_poll_at_its_short_interval(
    pool: asyncpg.Pool[Any], js: JetStreamContext, migrated_url: str
) -> None:
    relay = CountingRelay(pool, js, dsn=migrated_url, poll_interval=0.1, listening_poll=60.0)
    async with running(relay):
        await eventually(lambda: _relay_listening(pool))
        await asyncio.sleep(0.3)
        before = relay.drains + relay.looks
        await asyncio.sleep(1.5)
        idle = relay.drains + relay.looks - before

    assert idle == 0, f"{idle} drains or looks in 1.5 s with nothing committed"


async def test_a_listening_relays_look_by_time_drains_nothing_when_nothing_waits(
    pool: asyncpg.Pool[Any], js: JetStreamContext, migrated_url: str
) -> None:
    relay = CountingRelay(pool, js, dsn=migrated_url, poll_interval=0.1, listening_poll=0.2)
    async with running(relay):
        await eventually(lambda: _relay_listening(pool))
        await eventually(lambda: _none_waiting(pool))  # other tests' rows, drained
        await asyncio.sleep(0.3)
        drains, looks = relay.drains, relay.looks
        await asyncio.sleep(1.5)  # about seven looks by time
        drains, looks = relay.drains - drains, relay.looks - looks

    assert looks >= 3, f"{looks} looks by time in 1.5 s at a 0.2 s listening poll"
    assert drains == 0, f"{drains} drains (a transaction each) in 1.5 s with nothing waiting"


async def _none_waiting(pool: asyncpg.Pool[Any]) -> bool:
    waiting: int = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    return waiting == 0
