"""Booking's front door under load: `POST /appointments` as clients of the public API send it.

Every request books a fresh slot for one of `PAIRS` counselor/client pairs (request i takes
pair i mod PAIRS and that pair's next 15-minute slot), with an `Idempotency-Key`, so no two
requests in flight touch the same client's stream or the same slot and every answer should
be a 201. Set-up (site, staff, clients) happens before the timed windows.

The requests go out through aiohttp rather than httpx: the load generator shares the machine's
CPUs with the services it measures, and httpx's client cost about as much CPU per request as
booking itself (6 to 9 ms against booking's 7), so it throttled what it was measuring.
"""

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp

from tests.e2e.center import Center
from tests.e2e.harness import AUTH, Suite

PAIRS = 64
SLOT = timedelta(minutes=15)


@dataclass
class Latencies:
    """Seconds per answered request, and the window they were sent in."""

    seconds: float = 0.0
    ok: list[float] = field(default_factory=list)
    failed: int = 0

    @property
    def per_second(self) -> float:
        return len(self.ok) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.ok)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


class BookingLoad:
    def __init__(self, suite: Suite, counselors: list[str], clients: list[str]) -> None:
        self.suite = suite
        self.pairs = list(zip(counselors, clients, strict=True))
        # Tomorrow, on the quarter hour: inside any horizon, never in the past.
        first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        self._first = first
        self._counter = itertools.count()

    @classmethod
    async def prepare(cls, suite: Suite) -> "BookingLoad":
        center = await Center.open(suite)
        counselors = [center.counselor_id]
        counselors += await asyncio.gather(*(center.add_counselor() for _ in range(PAIRS - 1)))
        clients = await asyncio.gather(*(center.register_client() for _ in range(PAIRS)))
        return cls(suite, counselors, [str(c["id"]) for c in clients])

    def _body(self) -> dict[str, object]:
        i = next(self._counter)
        counselor, client = self.pairs[i % len(self.pairs)]
        start = self._first + SLOT * (i // len(self.pairs))
        return {
            "counselor_id": counselor,
            "client_id": client,
            "room_id": None,
            "start": start.isoformat(),
            "duration_minutes": 15,
            "modality": "online",
        }

    def client(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            base_url=self.suite.url("booking"),
            headers=AUTH,
            timeout=aiohttp.ClientTimeout(total=30.0),
            connector=aiohttp.TCPConnector(limit=256),
        )

    async def _book(self, http: aiohttp.ClientSession, into: Latencies) -> None:
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        began = time.perf_counter()
        try:
            async with http.post("/appointments", json=self._body(), headers=headers) as answer:
                await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError):
            into.failed += 1
            return
        if status == 201:
            into.ok.append(time.perf_counter() - began)
        else:
            into.failed += 1

    async def flat_out(self, in_flight: int, seconds: float) -> Latencies:
        """`in_flight` requests outstanding at all times for `seconds`."""
        result = Latencies()
        async with self.client() as http:
            await self._book(http, Latencies())  # connections warm, not timed
            deadline = time.perf_counter() + seconds

            async def worker() -> None:
                while time.perf_counter() < deadline:
                    await self._book(http, result)

            began = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(in_flight)))
            result.seconds = time.perf_counter() - began
        return result

    async def paced(self, rate: float, seconds: float) -> Latencies:
        """One request every 1/`rate` s, sent on time whatever the answers (open loop), so a
        slow answer does not hide the queue behind it."""
        result = Latencies()
        count = int(rate * seconds)
        async with self.client() as http:
            await self._book(http, Latencies())
            began = time.perf_counter()
            tasks = []
            for n in range(count):
                delay = began + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(self._book(http, result)))
            await asyncio.gather(*tasks)
            result.seconds = time.perf_counter() - began
        return result
