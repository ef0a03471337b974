"""The bus is authenticated and each service least-privileged (docs/security.md, The bus), on a real
nats-server configured by `counselctl bus config`."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from counseling_shared.bus import BusCredentials, connect_bus
from counseling_shared.busauth import OPERATOR, new_seed
from counseling_shared.codes import NotificationChannel, StaffRole
from counseling_shared.envelope import wrap
from counseling_shared.events import IntegrationEvent, NotificationSent, StaffRegistered
from counseling_shared.jetstream import ensure_consumer, ensure_streams, redrive_subject
from counseling_shared.service import create_app
from crisis.bootstrap import definition
from devstack.nats import NatsServer
from opsctl.bus import BusConfig, service_consumers, write_bus_config
from opsctl.config import Service
from opsctl.erasure import Sweep, sweep_dlq
from tests.crisis.integration.harness import crisis_settings, eventually, running_crisis
from tests.shared.integration.support import replica_fetch

pytestmark = pytest.mark.integration

DENIED = (nats.errors.TimeoutError, nats.errors.NoRespondersError, TimeoutError)


@dataclass
class SecuredBus:
    url: str
    config: BusConfig

    def credentials(self, user: str) -> BusCredentials:
        return BusCredentials(user=user, seed=self.config.seeds[user])


@dataclass
class Connection:
    nc: NatsClient
    errors: list[str] = field(default_factory=list)

    def violations(self) -> list[str]:
        return [e for e in self.errors if "permissions violation" in e.lower()]


@pytest.fixture(scope="module")
async def secured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecuredBus]:
    config = write_bus_config(tmp_path_factory.mktemp("bus") / "bus")
    store = tmp_path_factory.mktemp("nats-secured")
    with NatsServer(store, config_file=config.auth_file) as server:
        bus = SecuredBus(server.url, config)
        async with connected(bus, OPERATOR) as operator:
            await ensure_streams(operator.nc.jetstream(timeout=5.0))
        yield bus


@asynccontextmanager
async def connected(bus: SecuredBus, user: str) -> AsyncIterator[Connection]:
    connection = Connection(nc=NatsClient())

    async def record(error: Exception) -> None:
        connection.errors.append(str(error))

    connection.nc = await connect_bus(
        bus.url, bus.credentials(user), error_cb=record, allow_reconnect=False
    )
    try:
        yield connection
    finally:
        await connection.nc.close()


def staff_event(site_id: Any = None) -> StaffRegistered:
    return StaffRegistered(
        staff_id=uuid4(),
        site_id=site_id or uuid4(),
        name="On Call",
        role=StaffRole.COUNSELOR,
        email="oncall@center.example",
        phone="+15550001111",
        locale="en",
    )


def encoded(event: IntegrationEvent, source: str) -> tuple[str, bytes]:
    envelope = wrap(event, source=source, subject=uuid4())
    return envelope.nats_subject, envelope.encode()


async def stream_messages(bus: SecuredBus, stream: str) -> int:
    async with connected(bus, OPERATOR) as operator:
        info = await operator.nc.jetstream(timeout=5.0).stream_info(stream)
        return int(info.state.messages)


async def settle(connection: Connection) -> None:
    """Round trip to the server, so its asynchronous -ERR lines have arrived."""
    await connection.nc.flush(timeout=5)
    await asyncio.sleep(0.1)


async def test_a_connection_without_credentials_is_refused(secured: SecuredBus) -> None:
    with pytest.raises((nats.errors.Error, OSError)):
        await nats.connect(secured.url, allow_reconnect=False, max_reconnect_attempts=0)


async def test_a_seed_the_server_does_not_know_is_refused(secured: SecuredBus) -> None:
    stranger = BusCredentials(user="notify", seed=new_seed())
    with pytest.raises((nats.errors.Error, OSError)):
        await connect_bus(secured.url, stranger, allow_reconnect=False, max_reconnect_attempts=0)


async def test_notify_cannot_publish_bookings_events_but_booking_can(secured: SecuredBus) -> None:
    before = await stream_messages(secured, "BOOKING")
    subject, payload = encoded(staff_event(), source="booking")
    async with connected(secured, "notify") as notify:
        with pytest.raises(DENIED):
            await notify.nc.jetstream(timeout=1.0).publish(subject, payload)
        await settle(notify)
        assert any("booking." in v for v in notify.violations())
    assert await stream_messages(secured, "BOOKING") == before
    async with connected(secured, "booking") as booking:
        ack = await booking.nc.jetstream(timeout=5.0).publish(subject, payload)
    assert ack.stream == "BOOKING"
    assert await stream_messages(secured, "BOOKING") == before + 1


@pytest.mark.parametrize("subject", ["booking.directory.contact", "booking.directory.contacts"])
async def test_only_booking_answers_the_directory_and_only_notify_and_crisis_ask(
    secured: SecuredBus, subject: str
) -> None:
    """Both directory subjects: the one-client one and the batched extension."""

    async def answer(msg: Msg) -> None:
        await msg.respond(json.dumps({"answered_by": "booking"}).encode())

    async with (
        connected(secured, "booking") as booking,
        connected(secured, "notify") as notify,
        connected(secured, "followup") as followup,
        connected(secured, "crisis") as crisis,
    ):
        await booking.nc.subscribe(subject, queue="booking-directory", cb=answer)
        await booking.nc.flush()

        impostor_got: list[Msg] = []

        async def impostor(msg: Msg) -> None:
            impostor_got.append(msg)

        await notify.nc.subscribe(subject, cb=impostor)
        await settle(notify)
        assert any(subject in v for v in notify.violations())

        reply = await notify.nc.request(subject, b'{"client_id": "x"}', timeout=5)
        assert json.loads(reply.data) == {"answered_by": "booking"}
        assert impostor_got == []
        reply = await crisis.nc.request(subject, b'{"client_id": "x"}', timeout=5)
        assert json.loads(reply.data) == {"answered_by": "booking"}

        with pytest.raises(DENIED):
            await followup.nc.request(subject, b'{"client_id": "x"}', timeout=1)


async def test_only_booking_answers_reminder_replies_and_only_notify_asks(
    secured: SecuredBus,
) -> None:
    """`booking.reminder_replies` (a client's C/X to a reminder text): notify alone receives
    clients' texts, so crisis (which may ask the directory) may not ask this."""
    subject = "booking.reminder_replies"

    async def answer(msg: Msg) -> None:
        await msg.respond(json.dumps({"answered_by": "booking"}).encode())

    async with (
        connected(secured, "booking") as booking,
        connected(secured, "notify") as notify,
        connected(secured, "crisis") as crisis,
        connected(secured, "followup") as followup,
    ):
        await booking.nc.subscribe(subject, queue="booking-directory-replies", cb=answer)
        await booking.nc.flush()
        await notify.nc.subscribe(subject, cb=answer)  # an impostor answer: refused
        await settle(notify)
        assert any(subject in v for v in notify.violations())

        reply = await notify.nc.request(subject, b"{}", timeout=5)
        assert json.loads(reply.data) == {"answered_by": "booking"}
        for other in (crisis, followup):
            with pytest.raises(DENIED):
                await other.nc.request(subject, b"{}", timeout=1)


async def test_only_crisis_answers_staff_replies_and_only_notify_asks(
    secured: SecuredBus,
) -> None:
    """`crisis.staff_replies` (a staff member's text to the center's one number): notify alone
    takes that number's texts in, crisis alone answers, and the CRISIS stream does not capture
    the request (a PubAck would race crisis's answer, and the digests would be kept 90 days)."""
    subject = "crisis.staff_replies"
    before = await stream_messages(secured, "CRISIS")

    async def answer(msg: Msg) -> None:
        await msg.respond(json.dumps({"answered_by": "crisis"}).encode())

    async with (
        connected(secured, "booking") as booking,
        connected(secured, "notify") as notify,
        connected(secured, "crisis") as crisis,
        connected(secured, "followup") as followup,
    ):
        await crisis.nc.subscribe(subject, queue="crisis-staff-replies", cb=answer)
        await crisis.nc.flush()
        await notify.nc.subscribe(subject, cb=answer)  # an impostor answer: refused
        await settle(notify)
        assert any(subject in v for v in notify.violations())

        for _ in range(3):
            reply = await notify.nc.request(subject, b"{}", timeout=5)
            assert json.loads(reply.data) == {"answered_by": "crisis"}
        for other in (booking, followup):
            with pytest.raises(DENIED):
                await other.nc.request(subject, b"{}", timeout=1)
    assert await stream_messages(secured, "CRISIS") == before


async def test_notify_cannot_touch_another_services_durables(secured: SecuredBus) -> None:
    crisis_durable = service_consumers(Service.CRISIS)[0]
    notify_durable = service_consumers(Service.NOTIFY)[0]
    async with connected(secured, "crisis") as crisis:
        await ensure_consumer(crisis.nc.jetstream(timeout=5.0), crisis_durable)
    async with connected(secured, "notify") as notify:
        js = notify.nc.jetstream(timeout=1.0)
        stream, durable = crisis_durable.stream, crisis_durable.durable
        with pytest.raises(DENIED):
            await js.consumer_info(stream, durable)
        with pytest.raises(DENIED):
            await js.delete_consumer(stream, durable)
        with pytest.raises(DENIED):
            await js.add_consumer(stream, ConsumerConfig(durable_name=durable, name=durable))
        sub = await js.pull_subscribe_bind(durable=durable, stream=stream)
        with pytest.raises(DENIED):
            await sub.fetch(1, timeout=1.0)
        # Its own durable, it may create and read.
        await ensure_consumer(js, notify_durable)
        info = await js.consumer_info(notify_durable.stream, notify_durable.durable)
        assert info.name == notify_durable.durable
    async with connected(secured, "crisis") as crisis:
        info = await crisis.nc.jetstream(timeout=5.0).consumer_info(stream, durable)
        assert info.name == durable


async def test_notify_reads_its_own_events_back_for_the_webhooks(secured: SecuredBus) -> None:
    """The webhook durable on notify's own stream works with the permissions notify is given:
    notify publishes a NotificationSent, then pulls it back from that durable."""
    [spec] = [c for c in service_consumers(Service.NOTIFY) if c.durable == "notify-webhooks-notify"]
    assert (spec.stream, spec.filter_subjects) == ("NOTIFY", ["notify.>"])
    sent = NotificationSent(
        notification_id=uuid4(),
        recipient_id=uuid4(),
        site_id=uuid4(),
        channel=NotificationChannel.EMAIL,
        template="followup_due",
        cause_event_id=uuid4(),
        attempts=1,
    )
    subject, payload = encoded(sent, source="notify")
    async with connected(secured, "notify") as notify:
        js = notify.nc.jetstream(timeout=5.0)
        await ensure_consumer(js, spec)
        await js.publish(subject, payload)
        got = await replica_fetch(js, spec, timeout=5.0)  # it unpins: UNPIN is allowed
        assert subject in [m.subject for m in got]
        await settle(notify)
        assert notify.violations() == []


async def test_only_the_operator_administers_streams_and_redrives(secured: SecuredBus) -> None:
    async with connected(secured, "notify") as notify:
        js = notify.nc.jetstream(timeout=1.0)
        with pytest.raises(DENIED):
            await js.purge_stream("CRISIS")
        with pytest.raises(DENIED):
            await js.delete_stream("BOOKING")
        with pytest.raises(DENIED):
            await ensure_streams(js)
        with pytest.raises(DENIED):
            await js.publish(redrive_subject("crisis-staff"), b"{}", timeout=1.0)
    async with connected(secured, OPERATOR) as operator:
        js = operator.nc.jetstream(timeout=5.0)
        await ensure_streams(js)  # idempotent, allowed
        ack = await js.publish(redrive_subject("nobody-here"), b"{}")
        assert ack.stream == "DLQ"


async def test_the_operator_may_erase_a_clients_dead_letters_from_the_dlq_and_a_service_not(
    secured: SecuredBus,
) -> None:
    x, y = uuid4(), uuid4()
    async with connected(secured, "notify") as notify:
        js = notify.nc.jetstream(timeout=1.0)
        for who in (x, y):
            await js.publish("dlq.notify.probe", json.dumps({"client_id": str(who)}).encode())
        with pytest.raises(DENIED):
            await sweep_dlq(js, x, Sweep())
    async with connected(secured, OPERATOR) as operator:
        js = operator.nc.jetstream(timeout=5.0)
        sweep = Sweep()
        await sweep_dlq(js, x, sweep)
        consumers = [c.name for c in await js.consumers_info("DLQ")]

    assert (sweep.removed, sweep.complete) == (1, True)
    assert operator.violations() == []
    assert not [c for c in consumers if c.startswith("erase-")], "its reader is deleted"


async def test_one_service_cannot_read_another_services_replies(secured: SecuredBus) -> None:
    async with connected(secured, "followup") as followup:
        await followup.nc.subscribe("_INBOX.notify.>")
        await followup.nc.subscribe("_INBOX.>")
        await settle(followup)
        assert len(followup.violations()) == 2


async def test_a_forged_staff_registered_from_the_wrong_user_never_reaches_crisis(
    secured: SecuredBus, database_url: str
) -> None:
    site_id = uuid4()
    forged, genuine = staff_event(site_id), staff_event(site_id)
    settings = crisis_settings(
        database_url, secured.url, NATS_NKEY_SEED=secured.config.seeds["crisis"]
    )
    async with running_crisis(settings):
        async with connected(secured, "followup") as followup:
            subject, payload = encoded(forged, source="booking")
            with pytest.raises(DENIED):
                await followup.nc.jetstream(timeout=1.0).publish(subject, payload)
        async with connected(secured, "booking") as booking:
            subject, payload = encoded(genuine, source="booking")
            await booking.nc.jetstream(timeout=5.0).publish(subject, payload)

        async def staff_ids() -> set[Any]:
            conn = await asyncpg.connect(database_url)
            try:
                rows = await conn.fetch("SELECT staff_id FROM staff WHERE site_id = $1", site_id)
            finally:
                await conn.close()
            return {r["staff_id"] for r in rows}

        await eventually(lambda: _contains(staff_ids, genuine.staff_id), timeout=20)
        assert forged.staff_id not in await staff_ids()


async def _contains(found: Any, wanted: Any) -> bool:
    return wanted in await found()


async def test_an_authenticated_service_waits_for_the_operator_to_declare_its_streams(
    secured: SecuredBus, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    store = tmp_path_factory.mktemp("nats-empty")
    with NatsServer(store, config_file=secured.config.auth_file) as server:
        empty = SecuredBus(server.url, secured.config)
        settings = crisis_settings(
            database_url, empty.url, NATS_NKEY_SEED=empty.config.seeds["crisis"]
        )
        app = create_app(definition(settings))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://crisis"
            ) as http,
        ):
            await asyncio.sleep(1.5)
            waiting = await http.get("/readyz")
            assert waiting.status_code == 503
            assert waiting.json()["checks"]["streams"] is False
            async with connected(empty, "crisis") as crisis:
                with pytest.raises(DENIED):
                    await ensure_streams(crisis.nc.jetstream(timeout=1.0))
            async with connected(empty, OPERATOR) as operator:
                await ensure_streams(operator.nc.jetstream(timeout=5.0))

            async def ready() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await eventually(ready, timeout=20)
