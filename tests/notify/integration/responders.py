"""booking's and crisis's NATS responders that notify asks while it answers a text, played by
small nats-py subscribers (the `booking` and `crisis` fixtures of conftest.py start them)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import nats.errors
from nats.aio.msg import Msg

if TYPE_CHECKING:
    from tests.notify.integration.conftest import Notify

FEE = {"amount": "40.00", "currency": "EUR"}

Script = Callable[[dict[str, Any]], dict[str, Any]]


def _as_booking_would(request: dict[str, Any]) -> dict[str, Any]:
    """Confirm; a cancel is late (40 €) until the fee was announced."""
    if request["action"] == "confirm":
        return {"outcome": "confirmed", "start": request["start"], "fee": None}
    if not request["shown_late"]:
        return {"outcome": "late_needs_repeat", "start": request["start"], "fee": FEE}
    return {"outcome": "cancelled", "start": request["start"], "fee": FEE}


class _Responder:
    """What both responders share: their subscription, and leaving it at the test's end."""

    notify: Notify
    _sub: Any

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            await self.notify.nc.flush()
            self._sub = None


@dataclass
class FakeBooking(_Responder):
    """booking's `booking.reminder_replies` responder: keeps each request, answers `script`."""

    notify: Notify
    script: Script = _as_booking_would
    requests: list[dict[str, Any]] = field(default_factory=list)
    _sub: Any = None

    async def start(self) -> None:
        self._sub = await self.notify.nc.subscribe("booking.reminder_replies", cb=self._answer)
        await self.notify.nc.flush()

    async def _answer(self, msg: Msg) -> None:
        request = json.loads(msg.data)
        self.requests.append(request)
        await msg.respond(json.dumps(self.script(request)).encode())


SUBJECT = "crisis.staff_replies"


@dataclass
class FakeCrisis(_Responder):
    """crisis's responder: keeps each request; answers at once, late, or never."""

    notify: Notify
    delay: float = 0.0
    not_staff: bool = False  # crisis knows no staff member with this phone
    requests: list[dict[str, Any]] = field(default_factory=list)
    _sub: Any = None

    async def start(self) -> None:
        self._sub = await self.notify.nc.subscribe(SUBJECT, cb=self._answer)
        await self.notify.nc.flush()
        # Answering before the test starts: once, in a clean-clone CI run, the first text of a
        # test reached no responder (the fake saw no request) right after the previous test's
        # responder went away; not reproduced in 15 runs here, under load or not.
        probe = json.dumps({"command": "probe", "code": None}).encode()
        for _ in range(20):
            try:
                await self.notify.nc.request(SUBJECT, probe, timeout=0.5)
                break
            except (nats.errors.Error, TimeoutError):
                await asyncio.sleep(0.1)
        self.requests.clear()

    async def _answer(self, msg: Msg) -> None:
        request = json.loads(msg.data)
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        reply = f"crisis says {request['command']} {request['code'] or ''}".strip()
        answer = (
            {"outcome": "not_staff"} if self.not_staff else {"outcome": "answered", "reply": reply}
        )
        await msg.respond(json.dumps(answer).encode())
