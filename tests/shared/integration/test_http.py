"""What `create_app` gives every service: keys, health, metrics, problems, Idempotency-Key."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from counseling_shared.clock import SystemClock
from counseling_shared.service import Runtime, create_app
from devstack.handles import NatsHandle
from tests.shared.integration.probe_service import API_KEY, probe_definition
from tests.shared.integration.support import eventually, served

pytestmark = pytest.mark.integration

SITE = uuid4()
KEY = {"Authorization": f"Bearer {API_KEY}"}
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
async def probe(migrated_url: str, nats_server: NatsHandle) -> AsyncIterator[httpx.AsyncClient]:
    definition = probe_definition(database_url=migrated_url, nats_url=nats_server.url, site_id=SITE)
    app = create_app(definition, SystemClock())
    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        client.app_runtime = app.state.runtime  # type: ignore[attr-defined]
        yield client


def runtime(client: httpx.AsyncClient) -> Runtime:
    found: Runtime = client.app_runtime  # type: ignore[attr-defined]
    return found


def staff(**overrides: Any) -> dict[str, Any]:
    return {
        "site_id": str(SITE),
        "name": "Min-jun Park",
        "role": "counselor",
        "email": "min-jun@center.example",
        **overrides,
    }


async def staff_rows(client: httpx.AsyncClient) -> int:
    count: int = await runtime(client).db().fetchval("SELECT count(*) FROM staff")
    return count


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-key"}, {"Authorization": f"Basic {API_KEY}"}],
    ids=["no key", "unknown key", "not bearer"],
)
async def test_a_request_without_a_known_key_is_401(
    probe: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    before = await staff_rows(probe)

    answer = await probe.post("/staff", json=staff(), headers=headers)

    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["status"] == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert await staff_rows(probe) == before


async def test_health_answers_without_a_key(probe: httpx.AsyncClient) -> None:
    assert (await probe.get("/healthz")).status_code == 200


async def test_ready_when_database_nats_and_consumers_are_up(probe: httpx.AsyncClient) -> None:
    answer = await eventually(lambda: _ready(probe))

    assert answer is not None
    assert answer.json()["checks"] == {
        "started": True,
        "database": True,
        "nats": True,
        "streams": True,
        "consumers": True,
    }


async def test_not_ready_while_a_consumer_cannot_bind_or_nats_is_gone(
    migrated_url: str, nats_server: NatsHandle
) -> None:
    definition = probe_definition(
        database_url=migrated_url, nats_url=nats_server.url, site_id=SITE, stream="NO_SUCH"
    )
    app = create_app(definition, SystemClock())
    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        unbound = await client.get("/readyz")
        await app.state.runtime.nats().close()
        disconnected = await client.get("/readyz")

    assert unbound.status_code == 503
    assert unbound.json()["service"] == definition.name
    assert unbound.json()["checks"] == {
        "started": True,
        "database": True,
        "nats": True,
        "streams": True,
        "consumers": False,
    }
    assert disconnected.status_code == 503
    assert disconnected.json()["checks"]["nats"] is False


async def test_metrics_are_prometheus_text(probe: httpx.AsyncClient) -> None:
    answer = await probe.get("/metrics")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert "# TYPE outbox_backlog gauge" in answer.text
    assert "# TYPE messages_consumed_total counter" in answer.text


async def test_the_openapi_document_describes_the_routes(probe: httpx.AsyncClient) -> None:
    document = (await probe.get("/openapi.json")).json()

    assert set(document["paths"]) >= {"/staff", "/staff/{staff_id}"}
    fields = document["components"]["schemas"]["StaffIn"]["properties"]
    assert fields["email"]["description"]


@pytest.mark.parametrize(
    ("headers", "said"),
    [
        (
            {"content-type": "application/x-www-form-urlencoded"},
            "application/x-www-form-urlencoded",
        ),
        ({}, "none"),
    ],
)
async def test_a_json_body_not_sent_as_json_says_which_content_type_to_send(
    probe: httpx.AsyncClient, headers: dict[str, str], said: str
) -> None:
    """`curl -d '{…}'` without `-H 'Content-Type: application/json'` sends a form: the answer
    said only "body: Input should be a valid dictionary or object to extract fields from"."""
    answer = await probe.post(
        "/staff", content=json.dumps(staff()).encode(), headers={**KEY, **headers}
    )

    assert answer.status_code == 422
    body = answer.json()
    assert body["detail"] == (
        "body: the body must be JSON sent with Content-Type: application/json "
        f"(this request's Content-Type: {said})"
    )
    assert body["errors"] == [{"field": "body", "message": body["detail"][len("body: ") :]}]


async def test_a_json_body_of_the_wrong_shape_still_names_the_problem(
    probe: httpx.AsyncClient,
) -> None:
    answer = await probe.post("/staff", json=[1, 2], headers=KEY)

    assert answer.status_code == 422
    assert "Content-Type" not in answer.json()["detail"]


async def test_a_malformed_json_body_is_a_400_giving_the_position(
    probe: httpx.AsyncClient,
) -> None:
    answer = await probe.post(
        "/staff",
        content=b'{"name": "A",\n "role": ,}',
        headers={**KEY, "content-type": "application/json"},
    )

    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM
    body = answer.json()
    assert body["title"] == "Malformed request body"
    assert body["detail"].startswith("The request body is not valid JSON: Expecting value")
    assert body["detail"].endswith("at position 23 (line 2, column 10).")


async def test_a_body_that_is_not_utf8_is_a_400_giving_the_position(
    probe: httpx.AsyncClient,
) -> None:
    answer = await probe.post(
        "/staff",
        content=b'{"name": "caf\xe9"}',
        headers={**KEY, "content-type": "application/json"},
    )

    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["title"] == "Malformed request body"
    assert answer.json()["detail"] == (
        "The request body is not valid UTF-8: byte 0xe9 at position 13."
    )


async def test_an_unknown_field_is_a_422_naming_it(probe: httpx.AsyncClient) -> None:
    answer = await probe.post("/staff", json=staff(nickname="MJ"), headers=KEY)

    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"field": "nickname", "message": "Unknown field: this request has no field of that name."}
    ]


async def test_a_validators_message_reaches_the_client_as_a_plain_sentence(
    probe: httpx.AsyncClient,
) -> None:
    answer = await probe.post("/staff", json=staff(name="  "), headers=KEY)

    assert answer.status_code == 422
    assert answer.json()["errors"] == [{"field": "name", "message": "must not be blank"}]


async def test_a_method_the_path_does_not_take_is_a_405_with_allow(
    probe: httpx.AsyncClient,
) -> None:
    answer = await probe.delete("/staff", headers=KEY)

    assert answer.status_code == 405
    assert answer.headers["content-type"] == PROBLEM
    assert answer.headers["allow"] == "POST"


async def test_invalid_fields_are_a_422_naming_each_field(probe: httpx.AsyncClient) -> None:
    answer = await probe.post(
        "/staff",
        json={"site_id": "not-a-uuid", "role": "janitor", "email": "nobody"},
        headers=KEY,
    )

    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    named = {e["field"] for e in answer.json()["errors"]}
    assert named == {"site_id", "name", "role", "email"}


@pytest.mark.parametrize("cursor", ["not-a-cursor", "-1", "1e3", "99999999999999999999"])
async def test_a_bad_audit_cursor_is_a_422_naming_the_cursor(
    probe: httpx.AsyncClient, cursor: str
) -> None:
    answer = await probe.get("/audit", params={"cursor": cursor}, headers=KEY)

    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    assert [e["field"] for e in answer.json()["errors"]] == ["cursor"]


async def test_unknown_things_are_404_problems(probe: httpx.AsyncClient) -> None:
    missing = await probe.get(f"/staff/{uuid4()}", headers=KEY)
    nowhere = await probe.get("/no/such/path", headers=KEY)

    for answer in (missing, nowhere):
        assert answer.status_code == 404
        assert answer.headers["content-type"] == PROBLEM
        assert answer.json()["status"] == 404


async def test_a_created_thing_can_be_read_back(probe: httpx.AsyncClient) -> None:
    created = await probe.post("/staff", json=staff(), headers=KEY)

    assert created.status_code == 201
    read = await probe.get(f"/staff/{created.json()['id']}", headers=KEY)
    assert read.json() == created.json()


async def test_the_same_idempotency_key_and_body_replays_the_first_answer(
    probe: httpx.AsyncClient,
) -> None:
    before = await staff_rows(probe)
    headers = {**KEY, "Idempotency-Key": str(uuid4())}

    first = await probe.post("/staff", json=staff(), headers=headers)
    again = await probe.post("/staff", json=staff(), headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert await staff_rows(probe) == before + 1


async def test_the_same_idempotency_key_with_another_body_is_422(
    probe: httpx.AsyncClient,
) -> None:
    headers = {**KEY, "Idempotency-Key": str(uuid4())}
    await probe.post("/staff", json=staff(), headers=headers)
    before = await staff_rows(probe)

    other = await probe.post("/staff", json=staff(role="supervisor"), headers=headers)

    assert other.status_code == 422
    assert other.headers["content-type"] == PROBLEM
    assert await staff_rows(probe) == before


async def test_concurrent_requests_with_one_idempotency_key_execute_once(
    probe: httpx.AsyncClient,
) -> None:
    before = await staff_rows(probe)
    headers = {**KEY, "Idempotency-Key": str(uuid4())}
    runtime(probe).definition.state["delay"] = 0.3
    try:
        answers = await asyncio.gather(
            *(probe.post("/staff", json=staff(), headers=headers) for _ in range(4))
        )
    finally:
        runtime(probe).definition.state["delay"] = 0.0
    replay = await probe.post("/staff", json=staff(), headers=headers)

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409, 409, 409]
    [created] = [a for a in answers if a.status_code == 201]
    assert replay.json() == created.json()
    assert await staff_rows(probe) == before + 1


async def _ready(client: httpx.AsyncClient) -> httpx.Response | None:
    answer = await client.get("/readyz")
    return answer if answer.status_code == 200 else None


async def test_the_openapi_document_declares_problems_and_the_bearer_scheme(
    probe: httpx.AsyncClient,
) -> None:
    document = (await probe.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    register = document["paths"]["/staff"]["post"]["responses"]
    health = document["paths"]["/healthz"]["get"]

    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert document["security"] == [{"bearer": []}]
    assert health["security"] == []
    assert document["paths"]["/metrics"]["get"]["security"] == []
    assert "HTTPValidationError" not in schemas
    assert {"400", "401", "403", "409", "422"} <= set(register)
    invalid = register["422"]["content"]["application/problem+json"]["schema"]
    assert invalid == {"$ref": "#/components/schemas/ValidationProblem"}
    error_item = schemas["ValidationProblem"]["allOf"][1]["properties"]["errors"]["items"]
    assert error_item["required"] == ["field", "message"]
    assert register["401"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_interactive_docs_load_every_asset_from_the_service(
    probe: httpx.AsyncClient, page: str
) -> None:
    html = (await probe.get(page)).text
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", html)
    assets += re.findall(r"""url: ?['"]([^'"]+)['"]""", html)

    assert assets
    for asset in assets:
        assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
        assert (await probe.get(asset)).status_code == 200, asset


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="no Chromium on this machine")
@pytest.mark.parametrize(("page", "rendered"), [("/docs", "opblock"), ("/redoc", "redoc-wrap")])
async def test_the_interactive_docs_render_with_the_network_off(
    probe: httpx.AsyncClient, tmp_path: Path, page: str, rendered: str
) -> None:
    # Every request but to the service itself goes to a proxy that is not there: no network.
    browser = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--proxy-server=127.0.0.1:9",
        f"--user-data-dir={tmp_path}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        f"{probe.base_url}{page}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    dom, _ = await asyncio.wait_for(browser.communicate(), timeout=90)

    assert rendered in dom.decode()
    assert "/staff" in dom.decode()


async def test_a_read_whose_audit_entry_cannot_be_written_is_not_answered(
    probe: httpx.AsyncClient,
) -> None:
    created = await probe.post("/staff", json=staff(), headers=KEY)
    assert created.status_code == 201, created.text
    path = f"/staff/{created.json()['id']}"
    db = runtime(probe).db()
    await db.execute("ALTER TABLE audit RENAME TO audit_away")
    try:
        unrecorded = await probe.get(path, headers=KEY)
        before = await staff_rows(probe)
        changed = await probe.post("/staff", json=staff(name="Seo-yeon Kim"), headers=KEY)
        after = await staff_rows(probe)
    finally:
        await db.execute("ALTER TABLE audit_away RENAME TO audit")

    assert unrecorded.status_code == 503
    assert unrecorded.headers["content-type"] == PROBLEM
    assert "Min-jun" not in unrecorded.text
    # A change's entry is written in its own transaction: without it, the change is not made.
    assert changed.status_code == 503
    assert changed.headers["content-type"] == PROBLEM
    assert after == before
    assert (await probe.get(path, headers=KEY)).status_code == 200
