"""What `create_app` limits for every service: request bodies (64 KiB, 413) and the requests of
one key (429 with Retry-After), with health, readiness and metrics never limited."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from counseling_shared.clock import SystemClock
from counseling_shared.http import rate_limit
from counseling_shared.http.body_limit import MAX_BODY_BYTES
from counseling_shared.service import create_app
from devstack.handles import NatsHandle
from tests.shared.integration.probe_service import API_KEY, probe_definition
from tests.shared.integration.support import served

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("minute_edge_cleared")]


SITE = uuid4()
KEY = {"Authorization": f"Bearer {API_KEY}"}
RATE = 3
ANON_PATH = f"/staff/{uuid4()}"  # a route that needs a key: 401 without one


@pytest.fixture(scope="module")
async def probe(migrated_url: str, nats_server: NatsHandle) -> AsyncIterator[httpx.AsyncClient]:
    definition = probe_definition(database_url=migrated_url, nats_url=nats_server.url, site_id=SITE)
    definition.settings = definition.settings.model_copy(update={"rate_limit": "off"})
    app = create_app(definition, SystemClock())
    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        yield client


def _staff_body(size: int) -> bytes:
    """A JSON body of exactly `size` bytes (the name pads it)."""
    head = f'{{"site_id": "{SITE}", "role": "counselor", "email": "a@b.example", "name": "'
    return (head + "x" * (size - len(head) - 2) + '"}').encode()


async def _chunks(body: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "with Idempotency-Key"])
async def test_a_body_declared_over_64_kib_is_a_413_problem(
    probe: httpx.AsyncClient, idempotent: bool
) -> None:
    headers = KEY | ({"Idempotency-Key": str(uuid4())} if idempotent else {})
    headers["Content-Type"] = "application/json"

    answer = await probe.post("/staff", content=_staff_body(MAX_BODY_BYTES + 1), headers=headers)

    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 413


@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "with Idempotency-Key"])
async def test_a_chunked_body_is_cut_off_once_it_passes_64_kib(
    probe: httpx.AsyncClient, idempotent: bool
) -> None:
    headers = KEY | ({"Idempotency-Key": str(uuid4())} if idempotent else {})
    headers["Content-Type"] = "application/json"
    body = _staff_body(4 * MAX_BODY_BYTES)

    answer = await probe.post("/staff", content=_chunks(body), headers=headers)

    assert "content-length" not in answer.request.headers  # sent chunked
    assert answer.status_code == 413
    assert answer.json()["title"] == "Request body too large"


async def test_a_body_of_exactly_64_kib_is_read(probe: httpx.AsyncClient) -> None:
    headers = KEY | {"Content-Type": "application/json"}

    answer = await probe.post(
        "/staff", content=_chunks(_staff_body(MAX_BODY_BYTES)), headers=headers
    )

    assert answer.status_code != 413  # the probe's own rules judge it (its name is too long)


@pytest.fixture(scope="module")
async def limited(migrated_url: str, nats_server: NatsHandle) -> AsyncIterator[httpx.AsyncClient]:
    definition = probe_definition(database_url=migrated_url, nats_url=nats_server.url, site_id=SITE)
    definition.settings = definition.settings.model_copy(update={"rate_limit": f"{RATE}/minute"})
    app = create_app(definition, SystemClock())
    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        yield client


async def test_a_key_past_its_rate_is_refused_with_retry_after_and_probes_still_pass(
    limited: httpx.AsyncClient,
) -> None:
    answers = [await limited.get(f"/staff/{uuid4()}", headers=KEY) for _ in range(RATE + 1)]
    other_key = await limited.get(f"/staff/{uuid4()}", headers={"Authorization": "Bearer other"})
    probes: list[Any] = [await limited.get(p) for p in ("/healthz", "/metrics") for _ in range(5)]

    assert [a.status_code for a in answers] == [404] * RATE + [429]
    refused = answers[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert refused.json()["status"] == 429
    assert other_key.status_code == 401  # the address's budget: not the first key's
    assert {p.status_code for p in probes} == {200}


def _app(migrated_url: str, nats_url: str, **settings: Any) -> FastAPI:
    """The probe service, not started: anonymous requests are answered (401) before the
    database is needed, which is all the limiter's tests ask of it."""
    definition = probe_definition(database_url=migrated_url, nats_url=nats_url, site_id=SITE)
    definition.settings = definition.settings.model_copy(
        update={"rate_limit": f"{RATE}/minute", **settings}
    )
    return create_app(definition, SystemClock())


def _from(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://probe")


async def test_made_up_bearers_share_their_addresss_budget_and_a_real_key_keeps_its_own(
    migrated_url: str, nats_server: NatsHandle
) -> None:
    app = _app(migrated_url, nats_server.url)
    async with _from(app, "10.1.2.3") as client:
        made_up = [
            await client.get(ANON_PATH, headers={"Authorization": f"Bearer {secrets.token_hex(8)}"})
            for _ in range(20)
        ]
        real = await client.get(f"/staff/{uuid4()}", headers=KEY)

    assert 429 in [a.status_code for a in made_up]
    assert {a.status_code for a in made_up} == {401, 429}
    assert real.status_code != 429


async def test_a_trusted_ingress_forwards_each_clients_address_and_nobody_else_can(
    migrated_url: str, nats_server: NatsHandle
) -> None:
    app = _app(migrated_url, nats_server.url, forwarded_allow_ips="10.0.0.0/8")
    first, second = {"X-Forwarded-For": "203.0.113.5"}, {"X-Forwarded-For": "198.51.100.7"}
    async with _from(app, "10.0.0.1") as ingress, _from(app, "192.0.2.50") as direct:
        a = [await ingress.get(ANON_PATH, headers=first) for _ in range(RATE + 2)]
        b = await ingress.get(ANON_PATH, headers=second)
        # Outside the trusted range a forwarded address is ignored: no fresh budget per header.
        spoofed = [
            await direct.get(ANON_PATH, headers={"X-Forwarded-For": f"198.51.100.{n}"})
            for n in range(RATE + 2)
        ]

    assert [r.status_code for r in a] == [401] * RATE + [429, 429]
    assert b.status_code == 401
    assert spoofed[-1].status_code == 429


async def test_without_a_trusted_ingress_forwarded_addresses_are_ignored(
    migrated_url: str, nats_server: NatsHandle
) -> None:
    app = _app(migrated_url, nats_server.url)
    async with _from(app, "10.0.0.1") as ingress:
        answers = [
            await ingress.get(ANON_PATH, headers={"X-Forwarded-For": f"203.0.113.{n}"})
            for n in range(RATE + 1)
        ]

    assert answers[-1].status_code == 429


async def test_a_header_that_is_not_utf8_is_never_a_500(
    migrated_url: str, nats_server: NatsHandle
) -> None:
    app = _app(migrated_url, nats_server.url, rate_limit="off")
    key_bytes = f"Bearer {API_KEY}".encode()
    async with _from(app, "10.0.0.9") as client:
        answers = [
            await client.post(
                "/staff",
                json={},
                headers={b"idempotency-key": b"k\xe9y", b"authorization": key_bytes},
            ),
            await client.post("/staff", json={}, headers={b"x-odd": b"\xe9\xff"}),
            await client.post("/staff", json={}, headers={b"authorization": b"Bearer \xe9"}),
        ]

    assert all(400 <= a.status_code < 500 for a in answers), [a.status_code for a in answers]


def _html_for_staff_reads(request: Request, status: int) -> Response | None:
    """A service's HTML error page, for its pages (here: reads of a staff member)."""
    if request.method != "GET" or not request.url.path.startswith("/staff/"):
        return None
    return HTMLResponse(f"<p>error {status}</p>", status_code=status)


@pytest.fixture(scope="module")
async def limited_pages(
    migrated_url: str, nats_server: NatsHandle
) -> AsyncIterator[httpx.AsyncClient]:
    definition = probe_definition(database_url=migrated_url, nats_url=nats_server.url, site_id=SITE)
    definition.settings = definition.settings.model_copy(update={"rate_limit": f"{RATE}/minute"})
    definition.html_error_page = _html_for_staff_reads
    app = create_app(definition, SystemClock())
    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        yield client


async def test_a_page_past_its_rate_is_refused_with_the_services_html_page(
    limited_pages: httpx.AsyncClient,
) -> None:
    answers = [await limited_pages.get(f"/staff/{uuid4()}", headers=KEY) for _ in range(RATE + 1)]

    assert [a.status_code for a in answers] == [404] * RATE + [429]
    assert [a.text for a in answers[-2:]] == ["<p>error 404</p>", "<p>error 429</p>"]
    assert 0 < int(answers[-1].headers["retry-after"]) <= 60
    api = await limited_pages.post("/staff", json={}, headers={"Authorization": "Bearer other"})
    assert api.headers["content-type"] == "application/problem+json"  # not a page


async def test_the_limiters_memory_is_bounded_new_addresses_then_share_one_budget(
    migrated_url: str, nats_server: NatsHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rate_limit, "MAX_TRACKED_KEYS", 5)
    app = _app(migrated_url, nats_server.url)
    for n in range(5):
        async with _from(app, f"192.0.2.{n}") as client:
            assert (await client.get(ANON_PATH)).status_code == 401
    late = []
    for n in range(RATE + 1):
        async with _from(app, f"198.51.100.{n}") as client:
            late.append((await client.get(ANON_PATH)).status_code)
    async with _from(app, "10.1.1.1") as client:
        keyed = await client.get(f"/staff/{uuid4()}", headers=KEY)

    assert late == [401] * RATE + [429]  # distinct addresses, one shared budget
    assert keyed.status_code != 429  # a key keeps its own
