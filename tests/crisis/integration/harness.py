"""Running crisis in the test process, and reading and writing the real JetStream."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

import httpx
import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from counseling_shared.clock import Clock, SystemClock
from counseling_shared.envelope import wrap
from counseling_shared.events import IntegrationEvent
from counseling_shared.service import Runtime, create_app
from crisis.bootstrap import definition
from crisis.settings import CrisisSettings
from tests.fake_twilio import AUTH_TOKEN

API_KEY = "dev-admin-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
ALERT_BASE_URL = "https://crisis.example.test"

T = TypeVar("T")


def crisis_settings(database_url: str, nats_url: str, **extra: Any) -> CrisisSettings:
    return CrisisSettings.model_validate(
        {
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "API_KEYS": API_KEY,
            "ALERT_BASE_URL": ALERT_BASE_URL,
            "CRISIS_GAUGE_INTERVAL": 0.2,
            "CRISIS_STAFF_WAIT_SECONDS": 0.5,
            # A test moves its controllable clock by hand, and no NOTIFY says a deadline fell
            # due: the escalation timers look twice a second (production: LISTENING_POLL, 10 s).
            "LISTENING_POLL": 0.5,
            # Most tests flag made-up clients; test_people_act_as_themselves checks clients.
            "CRISIS_REQUIRE_KNOWN_CLIENT": False,
            **extra,
        }
    )


@dataclass
class RunningCrisis:
    http: httpx.AsyncClient
    runtime: Runtime


StartCrisis = Callable[..., AbstractAsyncContextManager[RunningCrisis]]
"""The `start_crisis` fixture: `start_crisis(clock=None, **settings)` runs crisis on the
module's database and NATS, on `clock` (the system's when None), with `crisis_settings` plus
the settings a module changes on purpose."""


def twilio_sms(public_url: str) -> dict[str, str]:
    """Settings for texts through Twilio (signed with tests.fake_twilio's token) reaching crisis
    at `public_url`, the address Twilio signs."""
    return {
        "SMS_PROVIDER": "twilio",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WEBHOOK_BASE_URL": public_url,
    }


@asynccontextmanager
async def running_crisis(
    settings: CrisisSettings, clock: Clock | None = None
) -> AsyncIterator[RunningCrisis]:
    """The service's real app and lifespan (migrations, relay, consumers, scheduler)."""
    app = create_app(definition(settings), clock or SystemClock())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://crisis", headers=AUTH
        ) as client:
            running = RunningCrisis(client, app.state.runtime)
            await eventually(lambda: _ready(client), timeout=15)
            yield running


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def eventually(
    check: Callable[[], Awaitable[T | None]], timeout: float = 5.0, interval: float = 0.05
) -> T:
    """Poll until `check` returns something truthy; return it (fail after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still {result!r} after {timeout} s")
        await asyncio.sleep(interval)


@dataclass(frozen=True)
class BusEvent:
    subject: str
    type: str
    data: dict[str, Any]
    envelope: dict[str, Any]


class Bus:
    """A plain NATS client for tests: publish as another service would, read what crisis sent."""

    def __init__(self, nc: NatsClient) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=5.0)

    @classmethod
    @asynccontextmanager
    async def connect(cls, url: str) -> AsyncIterator["Bus"]:
        nc = await nats.connect(url)
        try:
            yield cls(nc)
        finally:
            await nc.close()

    async def publish(
        self, event: IntegrationEvent, *, source: str, time: datetime | None = None
    ) -> UUID:
        """`time`: the envelope's (default: now), e.g. an older announcement arriving late."""
        envelope = wrap(event, source=source, subject=uuid4(), time=time)
        await self.js.publish(
            envelope.nats_subject,
            envelope.encode(),
            stream=source.upper(),
            headers={"Nats-Msg-Id": str(envelope.id)},
        )
        return envelope.id

    async def crisis_events(self, site_id: UUID, event_type: str = "*") -> list[BusEvent]:
        """Every event crisis published for the site so far, in stream order."""
        sub = await self.js.subscribe(f"crisis.{site_id}.{event_type}", ordered_consumer=True)
        found: list[BusEvent] = []
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=0.3)
                except nats.errors.TimeoutError:
                    return found
                envelope = json.loads(msg.data)
                found.append(BusEvent(msg.subject, envelope["type"], envelope["data"], envelope))
        finally:
            await sub.unsubscribe()


def pages(events: list[BusEvent], alert_id: UUID | str | None = None) -> list[dict[str, Any]]:
    return [
        e.data
        for e in events
        if e.type == "PageRequested" and (alert_id is None or e.data["alert_id"] == str(alert_id))
    ]
