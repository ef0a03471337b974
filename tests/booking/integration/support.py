"""Booking run for real (uvicorn on a free port, real PostgreSQL and NATS), and a small
client that speaks its HTTP API the way an integration would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import nats
import uvicorn

from booking.bootstrap import definition
from booking.settings import BookingSettings
from counseling_shared.clock import ControllableClock
from counseling_shared.service import create_app
from devstack.ports import free_port

ADMIN_KEY = "dev-admin-key"
# A key limited to a site that never exists: it may see nothing the tests create.
ELSEWHERE_SITE = uuid.uuid4()
ELSEWHERE_KEY = "elsewhere-key"


@dataclass
class Booking:
    """A running booking service and what the tests need to talk to it."""

    http: httpx.AsyncClient
    clock: ControllableClock
    nats_url: str
    database_url: str

    async def post(self, path: str, body: Any = None, key: str = ADMIN_KEY) -> httpx.Response:
        return await self.http.post(path, json=body, headers=_auth(key))

    async def get(self, path: str, key: str = ADMIN_KEY, **params: str) -> httpx.Response:
        return await self.http.get(path, params=params, headers=_auth(key))

    async def created(self, path: str, body: Any) -> dict[str, Any]:
        response = await self.post(path, body)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def site(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "Riverside Counseling", "timezone": "Asia/Seoul", "locale": "ko"}
        return await self.created("/sites", body | fields)

    async def counselor(self, site_id: str, **fields: Any) -> dict[str, Any]:
        body = {
            "site_id": site_id,
            "name": "Dr. Min-ji Park",
            "role": "counselor",
            "email": f"counselor-{uuid.uuid4().hex[:6]}@center.example",
            "phone": "+82 2 555 0100",
        }
        return await self.created("/staff", body | fields)

    async def room(self, site_id: str, name: str = "Room 1") -> dict[str, Any]:
        return await self.created("/rooms", {"site_id": site_id, "name": name})

    async def client(self, site_id: str, **fields: Any) -> dict[str, Any]:
        body = {
            "site_id": site_id,
            "name": f"Client {uuid.uuid4().hex[:8]}",
            "email": "client@mail.example",
            "preferred_channel": "email",
        }
        return await self.created("/clients", body | fields)

    async def appointment(
        self,
        counselor: dict[str, Any],
        client: dict[str, Any],
        start: datetime,
        **fields: Any,
    ) -> dict[str, Any]:
        body = {
            "counselor_id": counselor["id"],
            "client_id": client["id"],
            "start": start.isoformat(),
            "modality": "online",
        }
        return await self.created("/appointments", body | fields)

    def at(self, hours: float = 0, **delta: float) -> datetime:
        """An instant relative to the service's clock."""
        return self.clock.now() + timedelta(hours=hours, **delta)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextlib.asynccontextmanager
async def running_booking(
    database_url: str, nats_url: str, clock: ControllableClock, api_keys: str | None = None
) -> AsyncIterator[Booking]:
    port = free_port()
    settings = BookingSettings(
        database_url=database_url,
        nats_url=nats_url,
        api_keys=api_keys or f"{ADMIN_KEY},{ELSEWHERE_KEY}={ELSEWHERE_SITE}",
        port=port,
        log_level="WARNING",
    )
    app = create_app(definition(settings), clock)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()  # startup failed: raise its error here
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield Booking(http, clock, nats_url, database_url)
    finally:
        server.should_exit = True
        await serving


async def site_events(
    nats_url: str, site_id: str, count: int, timeout: float = 5.0
) -> list[tuple[str, dict[str, Any], bytes]]:
    """The first `count` messages the BOOKING stream holds for a site: (subject, envelope,
    raw payload). Fails when fewer arrive within `timeout`."""
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().subscribe(
            f"booking.{site_id}.>", stream="BOOKING", ordered_consumer=True
        )
        found: list[tuple[str, dict[str, Any], bytes]] = []
        async with asyncio.timeout(timeout):
            while len(found) < count:
                msg = await sub.next_msg(timeout=timeout)
                found.append((msg.subject, json.loads(msg.data), msg.data))
        return found
    finally:
        await nc.close()


async def eventually(check: Any, timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll the async `check` until it returns a truthy value; return that value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        last = await check()
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
        await asyncio.sleep(interval)


async def ask_directory(
    nats_url: str, subject: str, payload: bytes, inbox_prefix: str = "_INBOX"
) -> dict[str, object]:
    """One request to booking's directory responder (`subject`), as a service would ask."""
    nc = await nats.connect(nats_url, inbox_prefix=inbox_prefix)
    try:
        reply = await nc.request(subject, payload, timeout=3)
    finally:
        await nc.close()
    answer: dict[str, object] = json.loads(reply.data)
    return answer
