"""A site whose alerts climb an escalation ladder in seconds: three levels (one staff member,
then two, then one), no repeat and no fallback, so an alert nobody takes is paged at each level
once and then exhausted. Each level member has a staff key, to acknowledge as themselves.

Commands are retried like an integration's (tests/faults/load.py): a fault may be going on.
"""

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.e2e.center import Center, created
from tests.e2e.harness import API_KEY, AUTH, Suite
from tests.staff_keys import bearer, staff_key_entry

LEVEL_TIMEOUTS = (3, 3, 3)
"""Each level's `ack_timeout`, in seconds."""

LEVEL_SIZES = (1, 2, 1)
"""How many staff members each level pages."""

COMMAND_DEADLINE = 60.0


@dataclass(frozen=True)
class Member:
    staff_id: str
    email: str
    phone: str
    key: str  # the staff key's secret


@dataclass
class Raised:
    """An alert the test raised, and who acknowledged it (None: nobody, it climbs the ladder)."""

    alert_id: str
    client_id: str
    acknowledged_by: Member | None = None
    acknowledged_at_level: int = 0


@dataclass
class Ladder:
    suite: Suite
    center: Center
    levels: list[list[Member]]
    alerts: list[Raised] = field(default_factory=list)

    @property
    def site_id(self) -> str:
        return self.center.site_id

    @property
    def members(self) -> list[Member]:
        return [member for level in self.levels for member in level]

    @classmethod
    async def open(cls, suite: Suite) -> "Ladder":
        """The site, its level members (registered with booking, so every service hears of
        them) and its policy; the members' keys work once crisis restarts with them."""
        center = await Center.open(suite)
        levels = []
        for size in LEVEL_SIZES:
            level = []
            for _ in range(size):
                staff = await center.register_staff()
                secret = f"ladder-{uuid.uuid4().hex}"
                level.append(Member(str(staff["id"]), staff["email"], staff["phone"], secret))
            levels.append(level)
        ladder = cls(suite, center, levels)
        await ladder._put_policy()
        return ladder

    def key_entries(self) -> list[str]:
        return [staff_key_entry(m.key, self.site_id, m.staff_id) for m in self.members]

    async def _put_policy(self) -> None:
        policy = {
            "levels": [
                {"staff_ids": [m.staff_id for m in level], "ack_timeout": f"PT{timeout}S"}
                for level, timeout in zip(self.levels, LEVEL_TIMEOUTS, strict=True)
            ],
            "repeat": 0,
        }
        # crisis may not have heard of the staff yet: retry until it has.
        deadline = time.monotonic() + 30
        async with self.suite.client("crisis") as crisis:
            while True:
                answer = await crisis.put(f"/sites/{self.site_id}/escalation-policy", json=policy)
                if answer.status_code == 200 or time.monotonic() > deadline:
                    created(answer)
                    return
                await asyncio.sleep(0.2)

    async def raise_alert(self) -> Raised:
        client = await self.center.register_client()
        answer = await self._send(
            "/risk-flags",
            {
                "client_id": client["id"],
                "site_id": self.site_id,
                "level": "high",
                "source": "integration",
            },
            AUTH,
        )
        raised = Raised(str(answer["alert_id"]), str(client["id"]))
        self.alerts.append(raised)
        return raised

    async def acknowledge(self, alert: Raised, member: Member) -> dict[str, Any]:
        """`member` takes the alert with their own staff key (a bare POST: they act as
        themselves). It must escalate no further than the level it stood at then, as the
        answer says (on a slow machine a deadline may pass before the acknowledgement)."""
        answer = await self._send(f"/alerts/{alert.alert_id}/ack", None, bearer(member.key))
        alert.acknowledged_by, alert.acknowledged_at_level = member, answer["current_level"]
        return answer

    async def _send(
        self, path: str, body: dict[str, Any] | None, auth: dict[str, str]
    ) -> dict[str, Any]:
        """POST to crisis with one Idempotency-Key until it answers 2xx (a 4xx fails)."""
        headers = {"Idempotency-Key": str(uuid.uuid4()), **auth}
        deadline = time.monotonic() + COMMAND_DEADLINE
        async with httpx.AsyncClient(base_url=self.suite.url("crisis"), timeout=10.0) as http:
            while True:
                try:
                    answer = await http.post(path, json=body, headers=headers)
                except httpx.TransportError:
                    pass
                else:
                    retry = answer.status_code >= 500 or "request-in-progress" in answer.text
                    if not retry:
                        return created(answer)
                assert time.monotonic() < deadline, f"POST {path}: no answer in time"
                await asyncio.sleep(0.3)


async def restart_crisis_with(suite: Suite, entries: list[str]) -> None:
    """Stop crisis (SIGTERM) and start it again with these keys besides the admin's: staff keys
    name staff members, who exist only once booking registered them."""
    process = suite.processes["crisis"]
    process.send_stop()
    await asyncio.to_thread(process.stop)
    process.env["API_KEYS"] = ",".join([API_KEY, *entries])
    await suite.restart("crisis")
