"""The outbox relay gets over what used to stop it for good: a long NATS outage (nats-py's
pending-publish slots leaking until `publish_async` waited for ever), a cancel landing in that
wait, and a stream that does not exist yet (its rows were dead-lettered)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from prometheus_client import REGISTRY

from counseling_shared.envelope import wrap
from counseling_shared.relay import OutboxRelay
from devstack.handles import NatsHandle
from tests.shared.integration.support import eventually, session_completed
from tests.shared.integration.test_relay import (
    _none_left,
    commit,
    delivered_ids,
    nats_comes_back,  # noqa: F401 (a fixture)
    relay_for,
    running,
    unpublished,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


@contextlib.asynccontextmanager
async def stopping_in_time(relay: OutboxRelay) -> AsyncIterator[None]:
    """`running`, but a relay that does not stop within 3 s of its cancel fails the test
    (hung in nats-py, it used to ignore the cancel) instead of hanging it."""
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=3.0)
        assert task in done, "the relay ignored its cancellation"


@pytest.fixture
async def own_nc(nats_server: NatsHandle) -> AsyncIterator[NatsClient]:
    """A client of the test's own, with a 4 KB reconnect buffer (nats-py's default is 2 MB)."""
    client = await nats.connect(
        nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2, pending_size=4096
    )
    yield client
    await client.close()


async def test_a_relay_publishes_again_after_a_long_nats_outage(
    pool: asyncpg.Pool[Any],
    migrated_url: str,
    own_nc: NatsClient,
    js: JetStreamContext,  # declares the streams
    nats_comes_back: NatsHandle,  # noqa: F811
) -> None:
    # The audit's probe: 5 slots stand for nats-py's 4000, a 4 KB buffer for its 2 MB; the
    # relay used to re-send its batch on every retry, fill the buffer, then leak a slot per
    # attempt until it hung in `publish_async`, for good.
    site = uuid4()
    relay = relay_for(
        pool,
        own_nc.jetstream(timeout=5.0, publish_async_max_pending=5),
        migrated_url,
        publish_timeout=0.3,
        retry_delay=0.1,
        max_retry_delay=0.1,
        poll_interval=0.2,
        max_pending=5,
    )
    async with stopping_in_time(relay):
        await eventually(_heartbeat_set)
        nats_comes_back.kill()
        during = await commit(pool, site, [uuid4() for _ in range(30)])  # more than 4 KB
        await asyncio.sleep(1.0)
        heartbeat = _sample("outbox_relay_heartbeat_timestamp_seconds")
        lag = _sample("outbox_relay_lag_seconds")
        await asyncio.sleep(5.0)  # dozens of drain attempts

        assert own_nc.pending_data_size == 0, "published into nats-py's buffer while NATS was away"
        assert _sample("outbox_relay_heartbeat_timestamp_seconds") == heartbeat, "stuck, yet fresh"
        assert _sample("outbox_relay_lag_seconds") >= lag + 4.0, "the lag froze"
        assert _sample("outbox_backlog") == 30

        nats_comes_back.start()
        later = await commit(pool, site, [uuid4()])
        await eventually(lambda: _none_left(pool, [*during, *later]), timeout=20.0)
    assert time.time() - _sample("outbox_relay_heartbeat_timestamp_seconds") < 30


async def test_sends_that_raise_give_their_pending_publish_slots_back(
    pool: asyncpg.Pool[Any],
    migrated_url: str,
    own_nc: NatsClient,
    js: JetStreamContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # nats-py takes a slot and registers the ack's future before it sends; when the send
    # raises, nothing returns that slot. Here the send raises while the client is connected
    # (as when a disconnection lands mid-batch), ten times, with five slots.
    refused = 0
    real_publish = own_nc.publish

    async def refusing_publish(*args: Any, **kw: Any) -> None:
        nonlocal refused
        if refused < 10:
            refused += 1
            raise nats.errors.OutboundBufferLimitError
        await real_publish(*args, **kw)

    monkeypatch.setattr(own_nc, "publish", refusing_publish)
    site = uuid4()
    ids = await commit(pool, site, [uuid4(), uuid4()])
    relay = relay_for(
        pool,
        own_nc.jetstream(timeout=5.0, publish_async_max_pending=5),
        migrated_url,
        publish_timeout=0.3,
        retry_delay=0.05,
        max_retry_delay=0.05,
        poll_interval=0.05,
        max_pending=5,
    )
    async with stopping_in_time(relay):
        await eventually(lambda: _none_left(pool, ids), timeout=10.0)
    assert refused == 10
    assert await delivered_ids(js, site) == ids


async def test_a_relay_cancelled_while_nats_py_waits_for_a_slot_stops(
    pool: asyncpg.Pool[Any], js: JetStreamContext, migrated_url: str
) -> None:
    # nats-py turns that cancel into TooManyStalledMsgsError; caught as a failed send, the
    # relay went on and shutdown hung. Its one slot is taken here as lost slots would be.
    one_slot = js._nc.jetstream(timeout=5.0, publish_async_max_pending=1)
    relay = relay_for(pool, one_slot, migrated_url, max_pending=1, poll_interval=0.1)
    await relay._js._publish_async_pending_semaphore.acquire()
    sending = asyncio.Event()
    send = relay._send

    async def noted_send(row: asyncpg.Record) -> asyncio.Future[Any]:
        sending.set()
        return await send(row)

    relay._send = noted_send  # type: ignore[method-assign]
    ids = await commit(pool, uuid4(), [uuid4()])
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(sending.wait(), 5.0)
        await asyncio.sleep(0.2)  # waiting for the slot
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=3.0)
        assert task in done, "the relay ignored its cancellation"
    finally:
        task.cancel()
        relay._js._publish_async_pending_semaphore.release()
    async with running(relay_for(pool, js, migrated_url)):
        await eventually(lambda: _none_left(pool, ids))


async def test_rows_wait_for_a_missing_stream_and_flow_once_it_is_declared(
    pool: asyncpg.Pool[Any], js: JetStreamContext, migrated_url: str
) -> None:
    # NATS lost its volumes, or the service started before the streams' Job ran: the stream
    # will be declared, so its events (pages, FollowUpDue) must wait, not be dead-lettered.
    name = f"LATE{uuid4().hex[:8].upper()}"
    subject = f"{name.lower()}.{uuid4()}.SomethingHappened"
    event_id = uuid4()
    await pool.execute(
        "INSERT INTO outbox (event_id, stream, subject, payload) VALUES ($1, $2, $3, '{}')",
        event_id,
        name,
        subject,
    )
    [after] = await commit(pool, uuid4(), [uuid4()])
    missing = {"stream": name}
    relay = relay_for(
        pool, js, migrated_url, publish_timeout=1.0, retry_delay=0.1, poll_interval=0.2
    )
    sends: list[UUID] = []
    send = relay._send

    async def counted_send(row: asyncpg.Record) -> asyncio.Future[Any]:
        sends.append(row["event_id"])
        return await send(row)

    relay._send = counted_send  # type: ignore[method-assign]
    try:
        async with running(relay):
            await eventually(lambda: _gauge("outbox_relay_stream_missing", missing), timeout=10.0)
            await asyncio.sleep(1.5)  # several attempts
            assert await unpublished(pool, [event_id, after]) == 2, "dead-lettered, or passed"
            # Only the waiting row probes its stream: the rows after it were sent once, not
            # on every retry (past the duplicate window, each would be stored again).
            assert sends.count(event_id) >= 2
            assert sends.count(after) == 1

            await js.add_stream(StreamConfig(name=name, subjects=[f"{name.lower()}.>"]))
            await eventually(lambda: _none_left(pool, [event_id, after]), timeout=15.0)
            assert _sample("outbox_relay_stream_missing", missing) == 0
        dead = await pool.fetchval(
            "SELECT count(*) FROM outbox_dead_letters WHERE event_id = $1", event_id
        )
        assert dead == 0
        stored = await js.get_last_msg(name, subject)
        assert stored.headers is not None
        assert stored.headers["Nats-Msg-Id"] == str(event_id)
    finally:
        await pool.execute("DELETE FROM outbox WHERE event_id = $1", event_id)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(name)


async def _heartbeat_set() -> bool:
    return _sample("outbox_relay_heartbeat_timestamp_seconds") > 0


async def _gauge(name: str, labels: dict[str, str]) -> bool:
    return _sample(name, labels) == 1


def _documented_move_back(event_id: UUID) -> str:
    """docs/operations.md's statement that moves an outbox dead letter back, for `event_id`."""
    guide = (ROOT / "docs/operations.md").read_text()
    section = guide.split("## Outbox dead letters", 1)[1].split("\n## ", 1)[0]
    [sql] = re.findall(r"```sql\n(.*?)```", section, flags=re.DOTALL)
    return str(sql).replace("<id>", str(event_id))


async def test_the_documented_move_back_publishes_a_dead_letter_in_its_aggregates_order(
    pool: asyncpg.Pool[Any], js: JetStreamContext, migrated_url: str
) -> None:
    # A stream that does not take the event's subject: dead-lettered. Widened, the event is
    # moved back by the operator's statement and must be published with its aggregate.
    name = f"NARROW{uuid4().hex[:8].upper()}"
    prefix = name.lower()
    await js.add_stream(StreamConfig(name=name, subjects=[f"{prefix}.kept.>"]))
    appointment = uuid4()
    envelope = wrap(session_completed(uuid4(), appointment), source=prefix, subject=appointment)
    subject = f"{prefix}.{envelope.siteid}.{envelope.type}"
    await pool.execute(
        """INSERT INTO outbox (event_id, stream, subject, payload, aggregate)
           VALUES ($1, $2, $3, $4, $5)""",
        envelope.id,
        name,
        subject,
        envelope.encode(),
        str(appointment),
    )
    try:
        async with running(relay_for(pool, js, migrated_url, publish_timeout=1.0)):
            await eventually(lambda: _dead_lettered(pool, envelope.id), timeout=10.0)
        await js.update_stream(StreamConfig(name=name, subjects=[f"{prefix}.>"]))

        await pool.execute(_documented_move_back(envelope.id))
        aggregate = await pool.fetchval(
            "SELECT aggregate FROM outbox WHERE event_id = $1", envelope.id
        )
        assert aggregate == str(appointment), "moved back without its aggregate"
        async with running(relay_for(pool, js, migrated_url, poll_interval=0.1)):
            await eventually(lambda: _none_left(pool, [envelope.id]), timeout=10.0)
        stored = await js.get_last_msg(name, subject)
        assert stored.headers is not None
        assert stored.headers["Nats-Msg-Id"] == str(envelope.id)
        assert not await _dead_lettered(pool, envelope.id)
    finally:
        await pool.execute("DELETE FROM outbox WHERE event_id = $1", envelope.id)
        await js.delete_stream(name)


async def _dead_lettered(pool: asyncpg.Pool[Any], event_id: UUID) -> bool:
    found: bool = await pool.fetchval(
        "SELECT count(*) > 0 FROM outbox_dead_letters WHERE event_id = $1", event_id
    )
    return found
