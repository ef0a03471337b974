"""notify against real PostgreSQL, real NATS and the devstack sinks.

Each test module gets its own database, its own sinks and one notify app (lifespan and all),
driven through HTTP (httpx on the ASGI app) and through events published to JetStream.
NATS is the module's own when servers are embedded (`nats_url`); every test also works on fresh
ids (a new site, new clients), so one test's messages never end up in another's asserts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import asyncpg
import httpx
import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from counseling_shared.codes import Channel, FollowUpKind, Modality, StaffRole
from counseling_shared.envelope import Envelope, decode, wrap
from counseling_shared.events import (
    AppointmentBooked,
    ClientRegistered,
    FollowUpDue,
    IntegrationEvent,
    SiteRegistered,
    StaffRegistered,
)
from counseling_shared.service import create_app
from devstack.sinks import HttpSink, Sinks, SmtpSink
from notify.bootstrap import definition
from notify.settings import NotifySettings
from tests.fake_twilio import FakeTwilio
from tests.notify.integration.responders import FakeBooking, FakeCrisis

API_KEY = "dev-admin-key"


def followup_due(
    client_id: UUID,
    site_id: UUID,
    kind: FollowUpKind = FollowUpKind.CHECKIN,
    channel: Channel | None = None,
) -> FollowUpDue:
    """A check-in falling due now, as followup announces it."""
    return FollowUpDue(
        followup_id=uuid4(),
        client_id=client_id,
        site_id=site_id,
        kind=kind,
        due_at=datetime.now(UTC),
        channel=channel,
    )


T = TypeVar("T")


class ShiftableClock:
    """Real time plus an offset a test can move forward (quiet hours end without waiting)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def jump_to(self, instant: datetime) -> None:
        self.offset += max(instant - self.now(), timedelta(0))


@dataclass
class Directory:
    """booking's `booking.directory.contact` and `booking.directory.contacts` played by a small
    nats-py responder."""

    nc: NatsClient
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    batches: list[list[str]] = field(default_factory=list)
    """The client ids of each `booking.directory.contacts` request (also in `requests`)."""
    _sub: Any = None
    _batch_sub: Any = None

    def add(
        self,
        client_id: UUID,
        *,
        email: str | None = None,
        phone: str | None = None,
        locale: str = "en",
        timezone: str | None = "UTC",
        preferred_channel: Channel = Channel.EMAIL,
    ) -> None:
        self.contacts[str(client_id)] = {
            "client_id": str(client_id),
            "email": email,
            "phone": phone,
            "locale": locale,
            "timezone": timezone,
            "preferred_channel": preferred_channel.value,
        }

    async def start(self) -> None:
        self._sub = await self.nc.subscribe("booking.directory.contact", cb=self._answer)
        self._batch_sub = await self.nc.subscribe(
            "booking.directory.contacts", cb=self._answer_many
        )
        await self.nc.flush()

    async def stop(self) -> None:
        """Nobody answers any more (booking is down)."""
        if self._sub is not None:
            await self._sub.unsubscribe()
            await self._batch_sub.unsubscribe()
            self._sub = self._batch_sub = None
            await self.nc.flush()

    async def _answer(self, msg: Msg) -> None:
        client_id = str(json.loads(msg.data)["client_id"])
        self.requests.append(client_id)
        answer = self.contacts.get(client_id, {"error": "not_found"})
        await msg.respond(json.dumps(answer).encode())

    async def _answer_many(self, msg: Msg) -> None:
        asked = [str(c) for c in json.loads(msg.data)["client_ids"]]
        self.batches.append(asked)
        self.requests += asked
        answers = [self.contacts.get(c, {"client_id": c, "error": "not_found"}) for c in asked]
        await msg.respond(json.dumps({"contacts": answers}).encode())


@dataclass
class Notify:
    """A running notify and the handles a test drives it with."""

    http: httpx.AsyncClient
    js: JetStreamContext
    nc: NatsClient
    pool: asyncpg.Pool[Any]
    clock: ShiftableClock
    sinks: Sinks
    directory: Directory
    settings: NotifySettings

    async def publish(self, event: IntegrationEvent, *, source: str, subject: UUID) -> Envelope:
        """Publish a catalog event the way its producer's outbox relay would."""
        envelope = wrap(event, source=source, subject=subject, time=self.clock.now())
        await self.js.publish(
            envelope.nats_subject,
            envelope.encode(),
            stream=source.upper(),
            headers={"Nats-Msg-Id": str(envelope.id)},
        )
        return envelope

    async def book(self, client_id: UUID, site_id: UUID, start: datetime) -> None:
        """An online appointment of 50 minutes from `start`, announced as booking does."""
        await self.publish(
            AppointmentBooked(
                appointment_id=uuid4(),
                site_id=site_id,
                client_id=client_id,
                counselor_id=uuid4(),
                room_id=None,
                start=start,
                end=start + timedelta(minutes=50),
                modality=Modality.ONLINE,
            ),
            source="booking",
            subject=client_id,
        )

    async def new_site(self, *, timezone: str = "Europe/Paris", name: str = "Riverside") -> UUID:
        site_id = uuid4()
        await self.publish(
            SiteRegistered(site_id=site_id, name=name, timezone=timezone, locale="en"),
            source="booking",
            subject=site_id,
        )
        # Known before anything else is sent to it: the site's durable and the one carrying a
        # test's next event are separate, so without the wait the message could come first.
        await eventually(
            lambda: self.pool.fetchval("SELECT 1 FROM sites WHERE site_id = $1", site_id)
        )
        return site_id

    async def new_client(
        self, site_id: UUID, client_id: UUID, *, timezone: str = "Europe/Paris"
    ) -> UUID:
        """Tell notify about a client as booking does (it refuses preferences for unknown ones)."""
        await self.publish(
            ClientRegistered(
                client_id=client_id,
                site_id=site_id,
                locale="en",
                timezone=timezone,
                preferred_channel=Channel.EMAIL,
            ),
            source="booking",
            subject=client_id,
        )
        # Known before the test calls the API about them (notify waits only 3 s for it).
        await eventually(
            lambda: self.pool.fetchval("SELECT 1 FROM clients WHERE client_id = $1", client_id)
        )
        return client_id

    async def new_staff(
        self,
        site_id: UUID,
        *,
        phone: str | None = "+33600000001",
        locale: str = "en",
        role: StaffRole = StaffRole.CRISIS_LINE,
    ) -> UUID:
        staff_id = uuid4()
        await self.publish(
            StaffRegistered(
                staff_id=staff_id,
                site_id=site_id,
                name="Dr. On Call",
                role=role,
                email=f"oncall-{staff_id.hex[:8]}@center.example",
                phone=phone,
                locale=locale,
            ),
            source="booking",
            subject=staff_id,
        )
        await eventually(lambda: self.staff_known(staff_id))
        return staff_id

    async def staff_known(self, staff_id: UUID) -> bool:
        found = await self.pool.fetchval(
            "SELECT true FROM staff_contacts WHERE staff_id = $1", staff_id
        )
        return bool(found)

    async def notifications(self, **query: Any) -> list[dict[str, Any]]:
        params = {k: str(v) for k, v in query.items() if v is not None}
        response = await self.http.get("/notifications", params=params)
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        return rows

    async def notification(self, notification_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/notifications/{notification_id}")
        assert response.status_code == 200, response.text
        row: dict[str, Any] = response.json()
        return row

    async def set_preferences(self, recipient_id: UUID, body: dict[str, Any]) -> httpx.Response:
        return await self.http.put(f"/recipients/{recipient_id}/preferences", json=body)

    async def notify_events(
        self, site_id: UUID, count: int, timeout: float = 10.0
    ) -> list[Envelope]:
        """The first `count` events notify published for `site_id` on the NOTIFY stream."""
        sub = await self.js.subscribe(f"notify.{site_id}.>", stream="NOTIFY", ordered_consumer=True)
        found: list[Envelope] = []
        deadline = time.monotonic() + timeout
        try:
            while len(found) < count and time.monotonic() < deadline:
                with contextlib.suppress(nats.errors.TimeoutError, TimeoutError):
                    msg = await sub.next_msg(timeout=max(deadline - time.monotonic(), 0.01))
                    found.append(decode(msg.data))
        finally:
            await sub.unsubscribe()
        return found


_ROUND_TRIPS = ("execute", "executemany", "fetch", "fetchrow", "fetchval")


class CountingConnection:
    """A connection that counts the statements sent through it (each one a round trip)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.round_trips = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._conn, name)
        if name not in _ROUND_TRIPS:
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.round_trips += 1
            return await attr(*args, **kwargs)

        return counted


async def text_in(notify: Notify, secret: str, sender: str, text: str) -> dict[str, Any]:
    """A text from `sender` as the SMS provider posts it to `POST /inbound/sms` (200 expected)."""
    answer = await notify.http.post(
        "/inbound/sms",
        json={"from": sender, "text": text},
        headers={b"X-Webhook-Secret": secret.encode(), b"Authorization": b""},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def eventually(
    probe: Callable[[], Awaitable[T]], timeout: float = 10.0, interval: float = 0.05
) -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met after {timeout} s (last: {value!r})")
        await asyncio.sleep(interval)


@pytest.fixture(scope="module")
def notify_sinks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sinks]:
    outbox: Path = tmp_path_factory.mktemp("notify-outbox")
    with SmtpSink(outbox) as smtp, HttpSink(outbox) as http:
        yield Sinks(smtp=smtp, http=http, outbox_dir=outbox)


def make_settings(
    nats_url: str, database_url: str, sinks: Sinks, **overrides: Any
) -> NotifySettings:
    values: dict[str, Any] = {
        "nats_url": nats_url,
        "database_url": database_url,
        "api_keys": API_KEY,
        "smtp_host": sinks.smtp.host,
        "smtp_port": sinks.smtp.port,
        "smtp_from": "center@counseling.example",
        "sms_webhook_url": sinks.http.sms_url,
        "messaging_webhook_url": sinks.http.messaging_url,
        "alert_base_url": "https://crisis.counseling.example",
        "directory_timeout": 0.5,
        "idle_poll": 0.2,
        "max_attempts": 4,
        "retry_base": timedelta(milliseconds=200),
        "retry_max_delay": timedelta(seconds=1),
        "crisis_retry_base": timedelta(milliseconds=100),
        "crisis_retry_max_delay": timedelta(milliseconds=500),
        "log_level": "WARNING",
        **overrides,
    }
    return NotifySettings(**values)


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, Any]:
    """Settings a test module wants changed (override the fixture in the module)."""
    return {}


@pytest.fixture(scope="module")
async def notify(
    nats_url: str,
    database_url: str,
    notify_sinks: Sinks,
    notify_overrides: dict[str, Any],
) -> AsyncIterator[Notify]:
    settings = make_settings(nats_url, database_url, notify_sinks, **notify_overrides)
    nc = await nats.connect(nats_url)
    directory = Directory(nc)
    await directory.start()
    async with running_notify(settings, notify_sinks, nc, directory) as started:
        yield started
    await nc.close()


@contextlib.asynccontextmanager
async def running_notify(
    settings: NotifySettings, sinks: Sinks, nc: NatsClient, directory: Directory
) -> AsyncIterator[Notify]:
    """One notify app, lifespan and all, until the block ends (a test may start another on the
    same database: a restart)."""
    clock = ShiftableClock()
    app = create_app(definition(settings), clock)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport,
            base_url="http://notify",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as client,
    ):
        ready = await eventually(lambda: _ready(client), timeout=20.0)
        assert ready
        yield Notify(
            http=client,
            js=nc.jetstream(),
            nc=nc,
            pool=app.state.runtime.db(),
            clock=clock,
            sinks=sinks,
            directory=directory,
            settings=settings,
        )


async def _ready(client: httpx.AsyncClient) -> bool:
    response = await client.get("/readyz")
    return response.status_code == 200


# A webhook receiver: a small threaded HTTP server on 127.0.0.1 (tests of signed webhooks).


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """Answers `script` in order, then 200, to every POST; keeps what it got. An event whose
    `subject` is in `by_subject` gets that list's answers instead (then 200)."""

    url: str
    script: list[int] = field(default_factory=list)
    by_subject: dict[str, list[int]] = field(default_factory=dict)
    delay: float = 0.0  # seconds before each answer
    got: list[Received] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with lock:
                received = Received({k.lower(): v for k, v in self.headers.items()}, body)
                state.got.append(received)
                own = state.by_subject.get(str(received.event.get("subject")))
                queue = own if own is not None else state.script
                status = queue.pop(0) if queue else 200
                state.answered.append(status)
            time.sleep(state.delay)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilio]:
    """A fake Twilio for the module's notify (`tests/fake_twilio.py`), for modules that send
    through it: `notify_twilio_settings(twilio.url, …)` in their settings."""
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
async def booking(notify: Notify) -> AsyncIterator[FakeBooking]:
    """booking's `booking.reminder_replies` responder, for the test."""
    fake = FakeBooking(notify)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def crisis(notify: Notify) -> AsyncIterator[FakeCrisis]:
    """crisis's `crisis.staff_replies` responder, for the test."""
    fake = FakeCrisis(notify)
    await fake.start()
    yield fake
    await fake.stop()
