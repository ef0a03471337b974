"""The bulk lane's claims of several messages: one claim statement, one directory request and
one statement for their outcomes; a page in flight, short leases or a stop give the rest back
at once; a lost lease or an erasure drops only that message's outcome."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any, cast
from uuid import UUID, uuid4

import asyncpg
import nats
import pytest
from nats.aio.msg import Msg

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import Channel
from notify.adapters import notification_store, opt_outs
from notify.adapters.booking_directory import NatsClientDirectory
from notify.adapters.opt_out_guard import OptOutGuard, OptOutLookup
from notify.application.erasure import erase_client
from notify.application.ports import ClientContact, ClientNotFound, OutgoingMessage
from notify.domain.codes import Lane
from notify.domain.notification import DeliveryOutcome
from notify.entrypoints.page_priority import PagesFirst
from notify.entrypoints.workers import LaneWorkers
from tests.notify.integration.test_claims import (
    LEASE,
    CountingPool,
    KnownClients,
    ScriptedProvider,
    announced,
    claim_this,
    clock,
    courier,
    eventually_true,
    lane_workers,
    pool,
    queue_followup_for,
)

pytestmark = pytest.mark.integration

__all__ = ["clock", "pool"]  # the fixtures, shared with test_claims


async def queue_clients(
    pool: asyncpg.Pool[Any], clock: ControllableClock, count: int
) -> tuple[list[UUID], KnownClients]:
    """`count` follow-ups, one a client, queued a second apart (claimed in that order)."""
    clients = [uuid4() for _ in range(count)]
    queued = []
    for client in clients:
        queued.append(await queue_followup_for(pool, clock, client))
        clock.advance(timedelta(seconds=1))
    known = KnownClients(
        **{
            str(c): ClientContact(c, f"{n}@mail.example", None, "en", "UTC", Channel.EMAIL)
            for n, c in enumerate(clients)
        }
    )
    return queued, known


async def rows(pool: asyncpg.Pool[Any], ids: list[UUID]) -> list[asyncpg.Record]:
    found = await pool.fetch(
        "SELECT id, status, attempts, claimed_until FROM notifications WHERE id = ANY($1)", ids
    )
    by_id = {r["id"]: r for r in found}
    return [by_id[i] for i in ids]


async def test_a_bulk_claim_costs_one_claim_one_directory_request_and_one_outcome_statement(
    pool: asyncpg.Pool[Any], clock: ControllableClock
) -> None:
    queued, known = await queue_clients(pool, clock, 5)
    gone = uuid4()  # a client booking does not know: failed for good, the others sent
    queued.append(await queue_followup_for(pool, clock, gone))
    counting = CountingPool(pool)
    email = ScriptedProvider()
    couriers = courier(cast("asyncpg.Pool[Any]", counting), clock, email=email, clients=known)

    async with counting.acquire() as conn:
        batch = await notification_store.claim_many(
            conn, Lane.BULK, clock.now(), clock.now() + LEASE, None, 8
        )
    rest = await couriers.deliver_batch(batch, lambda: True, _never_stopped)

    assert rest == []
    assert [c.notification.id for c in batch] == queued  # most overdue first
    assert counting.round_trips == 2  # the claim (with facts) and every outcome
    assert len(known.batches) == 1  # one directory request for the six clients, in order
    assert known.batches[0] == [c.notification.recipient_id for c in batch]
    assert [m.notification_id for m in email.calls] == queued[:5]
    found = await rows(pool, queued)
    assert [r["status"] for r in found] == ["sent"] * 5 + ["failed"]
    assert all(r["attempts"] == 1 and r["claimed_until"] is None for r in found)
    for sent in queued[:5]:
        assert [e["type"] for e in await announced(pool, sent)] == ["NotificationSent"]
    assert [e["type"] for e in await announced(pool, queued[5])] == ["NotificationFailed"]


@pytest.mark.parametrize("per_batch", [False, True], ids=["one at a time", "per batch"])
async def test_a_batch_of_sms_looks_its_numbers_opt_outs_up_in_one_statement(
    pool: asyncpg.Pool[Any], clock: ControllableClock, per_batch: bool
) -> None:
    """Statements per message: the opt-out look-up was one per SMS; a batch makes one."""
    clients = [uuid4() for _ in range(6)]
    queued = []
    for client in clients:
        queued.append(await queue_followup_for(pool, clock, client))
        clock.advance(timedelta(seconds=1))
    phones = [f"+3361{uuid4().int % 10**7:07d}" for _ in clients]
    known = KnownClients(
        **{
            str(c): ClientContact(c, f"{n}@mail.example", phones[n], "en", "UTC", Channel.SMS)
            for n, c in enumerate(clients)
        }
    )
    keys = ["opt-out-test-key"]
    await opt_outs.opt_out(pool, keys, phones[2], "stop", clock.now())
    counting = CountingPool(pool)
    lookup = OptOutLookup(cast("asyncpg.Pool[Any]", counting), keys)
    sms, email = ScriptedProvider(), ScriptedProvider()
    couriers = courier(
        cast("asyncpg.Pool[Any]", counting),
        clock,
        email=email,
        sms=OptOutGuard(sms, lookup),
        clients=known,
        lookups=lookup if per_batch else None,
    )

    async with counting.acquire() as conn:
        batch = await notification_store.claim_many(
            conn, Lane.BULK, clock.now(), clock.now() + LEASE, None, 8
        )
    await couriers.deliver_batch(batch, lambda: True, _never_stopped)

    assert [c.notification.id for c in batch] == queued
    # The claim, the opt-outs (once, or once per message) and every outcome.
    assert counting.round_trips == (3 if per_batch else 2 + len(clients))
    assert [m.to for m in sms.calls] == phones[:2] + phones[3:]
    assert [m.notification_id for m in email.calls] == [queued[2]]  # its next channel
    assert {r["status"] for r in await rows(pool, queued)} == {"sent"}


async def test_a_batch_sent_by_email_only_looks_up_no_opt_outs(
    pool: asyncpg.Pool[Any], clock: ControllableClock
) -> None:
    clients = [uuid4() for _ in range(3)]
    for client in clients:
        await queue_followup_for(pool, clock, client)
        clock.advance(timedelta(seconds=1))
    known = KnownClients(
        **{
            str(c): ClientContact(
                c, f"{n}@mail.example", f"+336200000{n}", "en", "UTC", Channel.EMAIL
            )
            for n, c in enumerate(clients)
        }
    )
    counting = CountingPool(pool)
    lookup = OptOutLookup(cast("asyncpg.Pool[Any]", counting), ["opt-out-test-key"])
    sms = ScriptedProvider()
    couriers = courier(
        cast("asyncpg.Pool[Any]", counting),
        clock,
        sms=OptOutGuard(sms, lookup),
        clients=known,
        lookups=lookup,
    )

    async with counting.acquire() as conn:
        batch = await notification_store.claim_many(
            conn, Lane.BULK, clock.now(), clock.now() + LEASE, None, 8
        )
    await couriers.deliver_batch(batch, lambda: True, _never_stopped)

    assert len(batch) == 3
    assert sms.calls == []
    assert counting.round_trips == 2  # the claim and every outcome: no look-up


async def test_a_lost_lease_or_an_erasure_in_a_batch_drops_only_that_messages_outcome(
    pool: asyncpg.Pool[Any], clock: ControllableClock
) -> None:
    queued, known = await queue_clients(pool, clock, 4)
    email = ScriptedProvider()
    couriers = courier(pool, clock, email=email, clients=known)
    async with pool.acquire() as conn:
        slow = await notification_store.claim_many(
            conn, Lane.BULK, clock.now(), clock.now() + LEASE, None, 8
        )
    assert [c.notification.id for c in slow] == queued
    clock.advance(LEASE + timedelta(seconds=1))
    taken_over = await claim_this(pool, clock, queued[1])  # another worker, after the lease
    assert await couriers.deliver(taken_over) is not None
    erased = slow[2].notification.recipient_id
    async with pool.acquire() as conn:
        await erase_client(conn, erased)

    await couriers.deliver_batch(slow, lambda: True, _never_stopped)

    found = {r["id"]: r for r in await pool.fetch("SELECT * FROM notifications")}
    assert queued[2] not in found  # erased: nothing of it came back
    assert [found[q]["status"] for q in (queued[0], queued[1], queued[3])] == ["sent"] * 3
    attempts = await pool.fetchval(
        "SELECT count(*) FROM notification_attempts WHERE notification_id = $1", queued[1]
    )
    assert attempts == 1  # the late copy's outcome was dropped, not recorded twice
    assert [e["type"] for e in await announced(pool, queued[1])] == ["NotificationSent"]
    assert await announced(pool, queued[2]) == []
    events = await pool.fetchval(
        "SELECT count(*) FROM events WHERE stream_id = $1",
        notification_store.stream_id(queued[2]),
    )
    assert events == 0


async def _never_stopped(rest: list[notification_store.Claimed]) -> None:
    raise AssertionError("go_on said yes every time")


class PageArrives:
    """An email provider; a page starts being delivered while it sends the first message."""

    def __init__(self, pages: PagesFirst) -> None:
        self.pages = pages
        self.calls: list[OutgoingMessage] = []
        self.page: Any = None

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        self.calls.append(message)
        if self.page is None:
            self.page = self.pages.delivering()
            self.page.__enter__()
        return DeliveryOutcome.sent()


def bulk_workers(
    pool: asyncpg.Pool[Any],
    clock: ControllableClock,
    database_url: str,
    email: Any,
    known: KnownClients,
    **options: Any,
) -> LaneWorkers:
    """The bulk lane's workers, claiming up to 8 at a time, sending email through `email`."""
    return lane_workers(
        LaneWorkers,
        pool,
        clock,
        database_url,
        lane=Lane.BULK,
        delivery=courier(pool, clock, email=email, clients=known),
        claim_size=8,
        **options,
    )


async def test_a_page_arriving_mid_batch_gives_the_rest_back_until_it_is_delivered(
    pool: asyncpg.Pool[Any], clock: ControllableClock, database_url: str
) -> None:
    queued, known = await queue_clients(pool, clock, 4)
    pages = PagesFirst(longest_hold=30.0)
    email = PageArrives(pages)
    workers = bulk_workers(
        pool, clock, database_url, email, known, size=1, pages=pages, idle_poll=0.05
    )
    running = asyncio.create_task(workers.run())
    try:

        async def rest_given_back() -> bool:
            return all(r["claimed_until"] is None for r in (await rows(pool, queued))[1:])

        await eventually_true(rest_given_back)
        await asyncio.sleep(0.3)  # time enough to send more, were it not for the page
        during_the_page = await rows(pool, queued)
        sent_during_the_page = len(email.calls)
        email.page.__exit__(None, None, None)

        async def all_sent() -> bool:
            return all(r["status"] == "sent" for r in await rows(pool, queued))

        await eventually_true(all_sent)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    assert sent_during_the_page == 1
    # Its outcome waits for the page too (recorded after it, one statement less meanwhile).
    assert (during_the_page[0]["status"], during_the_page[0]["attempts"]) == ("pending", 0)
    # Not held by the worker while the page went: given back, unclaimed, untried.
    assert [(r["status"], r["attempts"]) for r in during_the_page[1:]] == [("pending", 0)] * 3
    assert all(r["claimed_until"] is None for r in during_the_page[1:])
    assert sorted(m.notification_id for m in email.calls) == sorted(queued)  # each once


async def test_the_rest_of_a_batch_goes_back_when_half_its_lease_is_gone(
    pool: asyncpg.Pool[Any], clock: ControllableClock, database_url: str
) -> None:
    queued, known = await queue_clients(pool, clock, 3)

    class SlowProvider(ScriptedProvider):
        async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
            clock.advance(LEASE / 2)  # a send that took half the lease
            return await super().send(message)

    email = SlowProvider()
    workers = bulk_workers(pool, clock, database_url, email, known)
    batch = await workers.claim_batch()
    assert [c.notification.id for c in batch] == queued

    await workers._deliver_batch(batch)

    found = await rows(pool, queued)
    assert [m.notification_id for m in email.calls] == queued[:1]
    assert [(r["status"], r["attempts"]) for r in found] == [("sent", 1)] + [("pending", 0)] * 2
    assert all(r["claimed_until"] is None for r in found)


class HangsOnSecond(ScriptedProvider):
    def __init__(self) -> None:
        super().__init__()
        self.hung = asyncio.Event()

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        if self.calls:
            self.calls.append(message)
            self.hung.set()
            await asyncio.Event().wait()
        return await super().send(message)


async def test_a_worker_stopped_mid_batch_records_what_it_sent_and_gives_back_the_rest(
    pool: asyncpg.Pool[Any], clock: ControllableClock, database_url: str
) -> None:
    queued, known = await queue_clients(pool, clock, 3)
    email = HangsOnSecond()
    workers = bulk_workers(pool, clock, database_url, email, known, idle_poll=0.05)
    running = asyncio.create_task(workers.run())
    await asyncio.wait_for(email.hung.wait(), 10)

    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    found = await rows(pool, queued)
    assert [(r["status"], r["attempts"]) for r in found] == [("sent", 1)] + [("pending", 0)] * 2
    assert all(r["claimed_until"] is None for r in found)
    assert [e["type"] for e in await announced(pool, queued[0])] == ["NotificationSent"]


async def test_a_booking_without_the_batched_subject_is_asked_one_client_at_a_time(
    nats_url: str,
) -> None:
    known, unknown = uuid4(), uuid4()
    asked: list[str] = []

    async def one_client(msg: Msg) -> None:  # booking from before the batched subject
        client_id = json.loads(msg.data)["client_id"]
        asked.append(client_id)
        answer = _contact_answer(client_id) if client_id == str(known) else {"error": "not_found"}
        await msg.respond(json.dumps(answer).encode())

    nc = await nats.connect(nats_url)
    try:
        await nc.subscribe("booking.directory.contact", cb=one_client)
        await nc.flush()
        answers = await NatsClientDirectory(nc, timeout=2.0).contacts([known, unknown])
    finally:
        await nc.close()

    assert sorted(asked) == sorted([str(known), str(unknown)])
    found, missing = answers
    assert isinstance(found, ClientContact)
    assert found.email == "known@mail.example"
    assert isinstance(missing, ClientNotFound)


def _contact_answer(client_id: str) -> dict[str, str]:
    return {
        "client_id": client_id,
        "email": "known@mail.example",
        "locale": "en",
        "timezone": "UTC",
        "preferred_channel": "email",
    }
