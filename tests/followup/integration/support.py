"""Helpers for followup's integration tests: run the service, publish as booking, read streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID, uuid4

import uvicorn
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from counseling_shared.clock import Clock, SystemClock
from counseling_shared.codes import Channel, GoalHorizon, RiskLevel
from counseling_shared.envelope import REGISTRY, Envelope, wrap
from counseling_shared.events import (
    ClientRegistered,
    IntegrationEvent,
    SessionCompleted,
    SiteRegistered,
)
from counseling_shared.service import Runtime, create_app
from devstack.ports import free_port
from followup.bootstrap import definition
from followup.settings import FollowupSettings

T = TypeVar("T")
ADMIN = {"Authorization": "Bearer dev-admin-key"}


# Tests publish a site or client as booking would and then call the API at once; on a loaded
# machine followup may take longer than the default 3 s to consume it (seen in CI). The wait is
# the product's own mechanism for that race: give it room, at the cost of a slower answer in
# the two tests of a site or client booking never registered.
KNOWN_ID_WAIT_SECONDS = 10.0


class RunningFollowup:
    """followup's app with its lifespan under uvicorn on a free port (one replica)."""

    def __init__(
        self,
        database_url: str,
        nats_url: str,
        clock: Clock | None = None,
        api_keys: str = "dev-admin-key",
    ) -> None:
        self.settings = FollowupSettings.model_validate(
            {
                "DATABASE_URL": database_url,
                "NATS_URL": nats_url,
                "API_KEYS": api_keys,
                "KNOWN_ID_WAIT_SECONDS": KNOWN_ID_WAIT_SECONDS,
            }
        )
        self.clock: Clock = clock or SystemClock()
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.runtime: Runtime | None = None

    async def start(self) -> RunningFollowup:
        app = create_app(definition(self.settings), self.clock)
        self.runtime = app.state.runtime
        port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("followup stopped during start-up")
            await asyncio.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"
        await eventually(self._ready)
        return self

    async def _ready(self) -> bool:
        assert self.runtime is not None
        return all((await self.runtime.readiness()).values())

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = self._task = None


async def eventually(
    probe: Callable[[], Awaitable[T]], *, timeout: float = 10.0, interval: float = 0.05
) -> T:
    """Poll `probe` until it answers something truthy; fail with its last answer otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"still {answer!r} after {timeout} s")
        await asyncio.sleep(interval)


async def publish_as_booking(
    js: JetStreamContext, event: IntegrationEvent, subject: UUID
) -> Envelope:
    """Exactly what booking's relay does: the envelope on its subject, deduplicated by id."""
    envelope = wrap(event, source="booking", subject=subject)
    await js.publish(
        envelope.nats_subject,
        envelope.encode(),
        stream="BOOKING",
        headers={"Nats-Msg-Id": str(envelope.id)},
    )
    return envelope


async def register_site(
    js: JetStreamContext, site_id: UUID, timezone: str = "Europe/Paris"
) -> None:
    """Tell followup about a site as booking does (it refuses a policy for an unknown one)."""
    site = SiteRegistered(site_id=site_id, name="Riverside", timezone=timezone, locale="fr")
    await publish_as_booking(js, site, site_id)


async def register_client(js: JetStreamContext, client_id: UUID, site_id: UUID) -> None:
    """Tell followup about a client as booking does (it refuses preferences for unknown ones)."""
    client = ClientRegistered(
        client_id=client_id,
        site_id=site_id,
        locale="fr",
        timezone="Europe/Paris",
        preferred_channel=Channel.EMAIL,
    )
    await publish_as_booking(js, client, client_id)


async def complete_session(
    js: JetStreamContext,
    site_id: UUID,
    client_id: UUID,
    *,
    appointment_id: UUID | None = None,
    counselor_id: UUID | None = None,
    completed_at: datetime | None = None,
    goal_horizon: GoalHorizon = GoalHorizon.SHORT_TERM,
) -> SessionCompleted:
    """A session without risk completed (now, unless `completed_at`), announced as booking does
    (subject: the appointment); new ids where none is given."""
    session = SessionCompleted(
        appointment_id=appointment_id or uuid4(),
        site_id=site_id,
        client_id=client_id,
        counselor_id=counselor_id or uuid4(),
        completed_at=completed_at or datetime.now(UTC),
        goal_horizon=goal_horizon,
        risk_level=RiskLevel.NONE,
    )
    await publish_as_booking(js, session, session.appointment_id)
    return session


async def followup_events(
    js: JetStreamContext, site_id: UUID, event_type: str = "*"
) -> list[tuple[Envelope, IntegrationEvent]]:
    """Every event followup published for the site (FOLLOWUP stream), in stream order."""
    subject = f"followup.{site_id}.{event_type}"
    info = await js.stream_info("FOLLOWUP", subjects_filter=subject)
    expected = sum((info.state.subjects or {}).values())
    if expected == 0:
        return []
    sub = await js.pull_subscribe(
        subject,
        stream="FOLLOWUP",
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=10.0
        ),
    )
    try:
        msgs: list[Msg] = []
        while len(msgs) < expected:
            msgs += await sub.fetch(expected - len(msgs), timeout=5.0)
        return [REGISTRY.decode(m.data) for m in msgs]
    finally:
        await sub.unsubscribe()
