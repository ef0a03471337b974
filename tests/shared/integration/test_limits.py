"""What `create_app` limits for every service: request bodies (64 KiB, 413) and the requests of
one key (429 with Retry-After), with health, readiness and metrics never limited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from counseling_shared.clock import SystemClock
from counseling_shared.http.body_limit import MAX_BODY_BYTES
from counseling_shared.service import create_app
from devstack.handles import NatsHandle
from tests.shared.integration.probe_service import API_KEY, probe_definition
from tests.shared.integration.support import served

pytestmark = pytest.mark.integration

SITE = uuid4()
KEY = {"Authorization": f"Bearer {API_KEY}"}
RATE = 3


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
    assert other_key.status_code == 401  # its own budget: not refused for the first key's use
    assert {p.status_code for p in probes} == {200}


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
