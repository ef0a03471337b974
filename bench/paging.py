"""Page latency: from `POST /risk-flags` to the SMS provider receiving the on-call page.

Each flag is for a client of its own (a second flag for a client with an open alert pages
nobody again). The arrival instant is the SMS sink's record of the request (its file's
mtime), so no polling sits in the timed window; the start is just before the accepted POST.
"""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.booking_load import Latencies
from tests.e2e.center import Center, created, notify_knows
from tests.e2e.harness import Suite, eventually


@dataclass
class Pager:
    suite: Suite
    center: Center
    oncall: dict[str, Any]
    clients: list[str] = field(default_factory=list)
    first_sent: float = 0.0  # epoch seconds of the last `page_each`'s first flag
    last_arrival: float = 0.0  # and of its last page's arrival at the SMS provider
    sent: dict[str, float] = field(default_factory=dict)
    """The last `page_each`'s flags: alert id → epoch seconds just before its POST."""
    answered: dict[str, float] = field(default_factory=dict)  # and when crisis answered it
    arrived: dict[str, float] = field(default_factory=dict)  # and its page reached the provider

    @classmethod
    async def prepare(
        cls, suite: Suite, flags: int, ack_timeouts: tuple[str, ...] = ("PT6H",)
    ) -> "Pager":
        """A site of its own with one on-call counselor at every level of its policy (one
        level per `ack_timeouts`), and `flags` clients."""
        center = await Center.open(suite)
        oncall = await center.register_staff()
        clients = await asyncio.gather(*(center.register_client() for _ in range(flags)))
        async with suite.client("crisis") as crisis:
            deadline = time.monotonic() + 30
            while True:  # the staff member may not have reached crisis yet
                levels = [{"staff_ids": [oncall["id"]], "ack_timeout": t} for t in ack_timeouts]
                policy = {"levels": levels}
                answer = await crisis.put(
                    f"/sites/{center.site_id}/escalation-policy", json={**policy, "repeat": 0}
                )
                if answer.status_code == 200 or time.monotonic() > deadline:
                    created(answer)
                    break
                await asyncio.sleep(0.2)
        await notify_knows(suite, oncall)
        return cls(suite, center, oncall, [str(c["id"]) for c in clients])

    async def page_each(self, interval: float) -> Latencies:
        """One flag every `interval` s, one after another; the latency of each page."""
        sent: dict[str, float] = {}
        answered: dict[str, float] = {}
        began = time.perf_counter()
        async with self.suite.client("crisis") as crisis:
            for client_id in self.clients:
                at, alert_id = await self._flag(crisis, client_id)
                sent[alert_id], answered[alert_id] = at, time.time()
                await asyncio.sleep(interval)
        result = Latencies(seconds=time.perf_counter() - began)
        sms = self.suite.sinks.http
        pages = await eventually(lambda: _pages(sms.sms, sent), timeout=60, interval=0.2)
        result.ok = [arrived - sent[alert] for alert, arrived in pages.items()]
        self.first_sent, self.last_arrival = min(sent.values()), max(pages.values())
        self.sent, self.answered, self.arrived = sent, answered, pages
        result.failed = len(sent) - len(result.ok)
        return result

    async def _flag(self, crisis: httpx.AsyncClient, client_id: str) -> tuple[float, str]:
        """One high flag for the client: (epoch seconds just before the accepted POST, the
        alert it opened)."""
        body = {
            "client_id": client_id,
            "site_id": self.center.site_id,
            "level": "high",
            "source": "integration",
        }
        while True:  # 503: crisis has not heard of the client yet; send it again
            at = time.time()
            answer = await crisis.post("/risk-flags", json=body)
            if answer.status_code != 503:
                return at, str(created(answer)["alert_id"])
            await asyncio.sleep(0.2)

    async def flag_all(self, concurrency: int) -> None:
        """One flag per client, `concurrency` at a time, unmeasured (filling a store): their
        alerts become `sent`, for `answer`."""
        limit = asyncio.Semaphore(concurrency)
        async with self.suite.client("crisis") as crisis:

            async def one(client_id: str) -> tuple[float, str]:
                async with limit:
                    return await self._flag(crisis, client_id)

            flagged = await asyncio.gather(*(one(c) for c in self.clients))
        self.sent = {alert_id: at for at, alert_id in flagged}

    async def answer(self, acknowledged: int, resolved: int) -> None:
        """The on-call counselor acknowledges every `acknowledged`-th alert of the last
        `page_each` or `flag_all` and resolves every `resolved`-th (crisis's own acknowledge and
        resolve), eight requests at a time."""
        staff = {"staff_id": self.oncall["id"]}
        chosen = sorted(self.sent)
        limit = asyncio.Semaphore(8)
        async with self.suite.client("crisis") as crisis:

            async def post(path: str, body: dict[str, Any]) -> None:
                async with limit:
                    created(await crisis.post(path, json=body))

            acks = [post(f"/alerts/{a}/ack", staff) for a in chosen[::acknowledged]]
            await asyncio.gather(*acks)
            outcome = {**staff, "outcome": "safety_plan"}
            resolves = [post(f"/alerts/{a}/resolve", outcome) for a in chosen[::resolved]]
            await asyncio.gather(*resolves)


def _pages(received: list[Any], sent: dict[str, float]) -> dict[str, float] | None:
    """Each alert's first SMS arrival, once every alert has one."""
    first: dict[str, float] = {}
    for request in received:
        for alert in sent:
            if alert in request.body:
                arrived = request.path.stat().st_mtime
                first[alert] = min(first.get(alert, arrived), arrived)
    return first if len(first) == len(sent) else None
