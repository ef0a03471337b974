"""Steady load on one site, as a client of the public API would send it.

Each worker repeats one flow: register a client, book a session (in the past, so it can be
completed at once), complete it, and for every third flow raise a risk flag; every other third
completes with a high risk instead, which booking turns into a flag. Every command carries an
`Idempotency-Key` and is retried with it while the service cannot answer, like a client would.

A command ends `accepted` (2xx), `rejected` (a 4xx: the load itself is wrong, a test failure)
or `unknown` (never answered within its deadline: it may or may not have taken effect).
"""

import asyncio
import contextlib
import itertools
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.center import Center, created, unique_email, unique_phone
from tests.e2e.harness import AUTH, Suite

COMMAND_DEADLINE = 45.0
"""How long a command is retried with its Idempotency-Key. A retry never runs a command a second
time: the key is held by its first try's transaction and recorded in it."""

IN_PROGRESS_PATIENCE = 5.0
"""How long a command keeps getting "409 in progress" before the load counts it `unknown` and
moves on: after a kill, the key stays held until PostgreSQL ends the dead request's transaction."""

RETRY_PAUSE = 0.5

FLOW_PERIOD = 1.0
"""Each worker starts at most one flow a second."""


@dataclass
class Command:
    kind: str  # staff | client | booking | completion | flag
    outcome: str = "pending"  # accepted | rejected | unknown
    # The ids the command's events carry (client_id, appointment_id, flag_id, staff_id).
    ids: dict[str, str] = field(default_factory=dict)
    risky: bool = False
    address: str = ""  # a client's mailbox
    detail: str = ""


@dataclass
class CommandLog:
    commands: list[Command] = field(default_factory=list)
    flows_done: int = 0  # flows whose every command was accepted

    def counts(self) -> dict[str, int]:
        return dict(Counter(command.outcome for command in self.commands))


class Site:
    """A site of its own per fault, so each fault's effects are counted apart."""

    def __init__(self, suite: Suite, center: Center, oncall: dict[str, Any]) -> None:
        self.suite = suite
        self.center = center
        self.oncall = oncall
        self.log = CommandLog()

    @property
    def site_id(self) -> str:
        return self.center.site_id

    @classmethod
    async def open(cls, suite: Suite, *, first_checkin_after: str = "PT2S") -> "Site":
        center = await Center.open(suite)
        oncall = await center.register_staff()
        site = cls(suite, center, oncall)
        site.log.commands.append(Command("staff", "accepted", {"staff_id": center.counselor_id}))
        site.log.commands.append(Command("staff", "accepted", {"staff_id": oncall["id"]}))
        # One check-in a while after each session, and no second one during the test.
        await site._put(
            "followup",
            f"/sites/{site.site_id}/followup-policy",
            {"first_checkin_after": first_checkin_after, "short_term_every": "PT6H"},
        )
        # One level, paged at once, with no escalation during the test: one page per alert.
        await site._put(
            "crisis",
            f"/sites/{site.site_id}/escalation-policy",
            {"levels": [{"staff_ids": [oncall["id"]], "ack_timeout": "PT6H"}], "repeat": 0},
        )
        return site

    async def _put(self, service: str, path: str, body: dict[str, Any]) -> None:
        # The site or its staff may not have reached the service yet: retry until it has.
        deadline = time.monotonic() + 30
        async with self.suite.client(service) as client:
            while True:
                response = await client.put(path, json=body)
                if response.status_code == 200 or time.monotonic() > deadline:
                    created(response)
                    return
                await asyncio.sleep(0.2)

    @contextlib.asynccontextmanager
    async def steady_load(self, workers: int = 3) -> AsyncIterator[CommandLog]:
        """Run `workers` flows in a loop until the block ends, then let the current ones end."""
        stop = asyncio.Event()
        counselors = [self.center.counselor_id]
        for _ in range(workers - 1):
            counselor = await self.center.add_counselor()
            self.log.commands.append(Command("staff", "accepted", {"staff_id": counselor}))
            counselors.append(counselor)
        tasks = [asyncio.create_task(self._worker(c, stop)) for c in counselors]
        try:
            yield self.log
        finally:
            stop.set()
            await asyncio.gather(*tasks)

    async def wait_flows(self, count: int, timeout: float = 120.0) -> None:
        """Until `count` more flows have had every command accepted (the load is flowing)."""
        target = self.log.flows_done + count
        deadline = time.monotonic() + timeout
        while self.log.flows_done < target:
            if time.monotonic() > deadline:
                raise AssertionError(f"the load did not complete {count} flows in {timeout}s")
            await asyncio.sleep(0.1)

    async def complete_sessions(self, count: int) -> None:
        """`count` flows one after another, outside any load: each completes a session without
        a risk, so each plans one check-in and pages nobody."""
        async with httpx.AsyncClient(timeout=10.0) as http:
            for n in range(count):
                # Flow numbers 0, 3, 6…: no risk and no flag (see `_flow`).
                done = await self._flow(http, self.center.counselor_id, 3 * n)
                assert done, [c.detail for c in self.log.commands if c.outcome != "accepted"]
                self.log.flows_done += 1

    async def raise_flag(self) -> dict[str, Any]:
        """A registered client flagged high through crisis: an alert that pages the on-call."""
        async with httpx.AsyncClient(timeout=10.0) as http:
            address = unique_email("load")
            body = {
                "site_id": self.site_id,
                "name": "Client Load",
                "preferred_channel": "email",
                "email": address,
                "phone": unique_phone(),
            }
            client = await self._send(
                http, Command("client", address=address), "booking", "/clients", body
            )
            assert client is not None, self.log.commands[-1].detail
            flag = {
                "client_id": client["id"],
                "site_id": self.site_id,
                "level": "high",
                "source": "integration",
            }
            flagging = Command("flag", ids={"client_id": client["id"]})
            flagged = await self._send(http, flagging, "crisis", "/risk-flags", flag)
            assert flagged is not None, flagging.detail
            return flagged

    async def _worker(self, counselor_id: str, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=10.0) as http:
            for number in itertools.count():
                if stop.is_set():
                    return
                began = time.monotonic()
                if await self._flow(http, counselor_id, number):
                    self.log.flows_done += 1
                # Steady, not flat out: a backlog of the load's own making is not a fault's.
                await asyncio.sleep(max(0.0, FLOW_PERIOD - (time.monotonic() - began)))

    async def _flow(self, http: httpx.AsyncClient, counselor_id: str, number: int) -> bool:
        """One client's flow; True when every command of it was accepted.

        booking takes sessions that started at most 15 minutes ago (`slots.PAST_GRACE`), so
        a session the flow can complete at once starts a minute ago; its counselor is one of its
        own (the worker's first, then a new one each flow), so no two flows' sessions overlap.
        """
        if number > 0:
            counselor = await self._send(
                http,
                Command("staff"),
                "booking",
                "/staff",
                {
                    "site_id": self.site_id,
                    "name": "Counselor Load",
                    "role": "counselor",
                    "email": unique_email("counselor"),
                },
            )
            if counselor is None:
                return False
            counselor_id = str(counselor["id"])
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        address = unique_email("load")
        client = await self._send(
            http,
            Command("client", address=address),
            "booking",
            "/clients",
            {
                "site_id": self.site_id,
                "name": "Client Load",
                "preferred_channel": "email",
                "email": address,
                "phone": unique_phone(),
            },
        )
        if client is None:
            return False
        appointment = await self._send(
            http,
            Command("booking"),
            "booking",
            "/appointments",
            {
                "counselor_id": counselor_id,
                "client_id": client["id"],
                "room_id": None,
                "start": start.isoformat(),
                "duration_minutes": 15,
                "modality": "online",
            },
        )
        if appointment is None:
            return False
        risky = number % 3 == 1
        completed = await self._send(
            http,
            Command("completion", ids={"client_id": client["id"]}, risky=risky),
            "booking",
            f"/appointments/{appointment['id']}/complete",
            {
                "goal_horizon": "short_term",
                "goals": ["sleep better"],
                "risk_level": "high" if risky else "none",
            },
        )
        if completed is None:
            return False
        if number % 3 == 2:
            flagged = await self._send(
                http,
                Command("flag", ids={"client_id": client["id"]}),
                "crisis",
                "/risk-flags",
                {
                    "client_id": client["id"],
                    "site_id": self.site_id,
                    "level": "high",
                    "source": "integration",
                },
            )
            return flagged is not None
        return True

    async def _send(
        self,
        http: httpx.AsyncClient,
        command: Command,
        service: str,
        path: str,
        body: dict[str, Any],
    ) -> dict[str, Any] | None:
        """POST with one Idempotency-Key until a definite answer; None unless accepted."""
        self.log.commands.append(command)
        headers = {"Idempotency-Key": str(uuid.uuid4()), **AUTH}
        deadline = time.monotonic() + COMMAND_DEADLINE
        in_progress_since: float | None = None
        while True:
            try:
                response = await http.post(
                    f"{self.suite.url(service)}{path}", json=body, headers=headers
                )
            except httpx.TransportError as error:
                command.detail = repr(error)
            else:
                status = response.status_code
                if 200 <= status < 300:
                    answer: dict[str, Any] = response.json()
                    command.outcome = "accepted"
                    command.ids.update(_ids_of(command.kind, answer))
                    return answer
                command.detail = f"{status} {response.text[:300]}"
                # 409 "in progress": the first try with this key is still running (or died).
                if _in_progress(response):
                    in_progress_since = in_progress_since or time.monotonic()
                    if time.monotonic() - in_progress_since > IN_PROGRESS_PATIENCE:
                        command.outcome = "unknown"
                        return None
                elif 400 <= status < 500:
                    command.outcome = "rejected"
                    return None
            if time.monotonic() > deadline:
                command.outcome = "unknown"
                return None
            await asyncio.sleep(RETRY_PAUSE)


def _in_progress(response: httpx.Response) -> bool:
    return response.status_code == 409 and "request-in-progress" in response.text


def _ids_of(kind: str, answer: dict[str, Any]) -> dict[str, str]:
    if kind == "client":
        return {"client_id": str(answer["id"])}
    if kind in ("booking", "completion"):
        return {"appointment_id": str(answer["id"])}
    if kind == "staff":
        return {"staff_id": str(answer["id"])}
    if kind == "flag":
        return {"flag_id": str(answer["flag_id"]), "alert_id": str(answer["alert_id"])}
    return {}
