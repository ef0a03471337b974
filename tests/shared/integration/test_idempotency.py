"""`Idempotency-Key` that cannot double (issue: HTTP idempotency): no takeover of a running
request, the record commits with the command, no client data kept, replays read the resource
as it is now, and keys expire."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from counseling_shared import idempotency
from counseling_shared.clock import SystemClock
from counseling_shared.service import Runtime, create_app
from devstack.handles import NatsHandle
from tests.shared.integration.probe_service import API_KEY, probe_definition
from tests.shared.integration.support import served

pytestmark = pytest.mark.integration

SITE = uuid4()
KEY = {"Authorization": f"Bearer {API_KEY}"}
EMAIL = "min-jun.idempotency@center.example"
RECORD_COLUMNS = {
    "principal",
    "key",
    "method",
    "path",
    "request_hash",
    "status_code",
    "resource_id",
    "location",
    "created_at",
}


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
    return {"site_id": str(SITE), "name": "Min-jun Park", "role": "counselor", "email": EMAIL}


async def staff_rows(client: httpx.AsyncClient) -> int:
    count: int = await runtime(client).db().fetchval("SELECT count(*) FROM staff")
    return count


async def key_rows(client: httpx.AsyncClient, key: str) -> int:
    count: int = (
        await runtime(client)
        .db()
        .fetchval("SELECT count(*) FROM idempotency_keys WHERE key = $1", key)
    )
    return count


async def age_keys(client: httpx.AsyncClient, key: str, by: timedelta) -> None:
    await (
        runtime(client)
        .db()
        .execute(
            "UPDATE idempotency_keys SET created_at = created_at - $2::interval WHERE key = $1",
            key,
            by,
        )
    )


async def test_a_key_is_never_taken_over_while_its_first_request_runs(
    probe: httpx.AsyncClient,
) -> None:
    before = await staff_rows(probe)
    key = str(uuid4())
    headers = {**KEY, "Idempotency-Key": key}
    runtime(probe).definition.state["delay"] = 1.5
    try:
        first = asyncio.create_task(probe.post("/staff", json=staff(), headers=headers))
        await asyncio.sleep(0.5)
        # However long the first has run by the store's clock, its key stays its own.
        await age_keys(probe, key, timedelta(hours=1))
        second = await probe.post("/staff", json=staff(), headers=headers)
        first_answer = await first
    finally:
        runtime(probe).definition.state["delay"] = 0.0

    assert first_answer.status_code == 201
    assert second.status_code == 409
    assert second.headers["content-type"] == "application/problem+json"
    assert await staff_rows(probe) == before + 1


async def test_the_key_is_recorded_in_the_commands_own_transaction(
    probe: httpx.AsyncClient,
) -> None:
    before = await staff_rows(probe)
    key = str(uuid4())
    runtime(probe).definition.state["delay"] = 1.0
    try:
        request = asyncio.create_task(
            probe.post("/staff", json=staff(), headers={**KEY, "Idempotency-Key": key})
        )
        await asyncio.sleep(0.4)
        while_running = (await key_rows(probe, key), await staff_rows(probe) - before)
        answer = await request
    finally:
        runtime(probe).definition.state["delay"] = 0.0

    assert while_running == (0, 0)  # neither the effect nor the record before the commit
    assert answer.status_code == 201
    assert (await key_rows(probe, key), await staff_rows(probe) - before) == (1, 1)


async def test_the_record_keeps_no_client_data(probe: httpx.AsyncClient) -> None:
    key = str(uuid4())

    created = await probe.post("/staff", json=staff(), headers={**KEY, "Idempotency-Key": key})

    row = (
        await runtime(probe)
        .db()
        .fetchrow(
            "SELECT *, row_to_json(k)::text AS whole FROM idempotency_keys k WHERE key = $1", key
        )
    )
    assert row is not None
    assert set(row.keys()) - {"whole"} <= RECORD_COLUMNS
    assert EMAIL not in row["whole"]
    assert "Min-jun" not in row["whole"]
    assert (row["status_code"], row["resource_id"]) == (201, created.json()["id"])


async def test_a_replay_answers_the_same_status_and_the_resource_as_it_is_now(
    probe: httpx.AsyncClient,
) -> None:
    headers = {**KEY, "Idempotency-Key": str(uuid4())}
    first = await probe.post("/staff", json=staff(), headers=headers)
    await (
        runtime(probe)
        .db()
        .execute("UPDATE staff SET role = 'supervisor' WHERE id = $1", UUID(first.json()["id"]))
    )

    again = await probe.post("/staff", json=staff(), headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == {**first.json(), "role": "supervisor"}


async def test_a_key_is_forgotten_after_it_expires(probe: httpx.AsyncClient) -> None:
    key = str(uuid4())
    headers = {**KEY, "Idempotency-Key": key}
    first = await probe.post("/staff", json=staff(), headers=headers)
    await age_keys(probe, key, timedelta(hours=25))  # the default lifetime is 24 hours

    other = await probe.post("/staff", json={**staff(), "role": "supervisor"}, headers=headers)

    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]
    assert await key_rows(probe, key) == 1


async def test_a_record_committed_after_the_lock_is_kept_and_the_command_answered_as_a_replay(
    probe: httpx.AsyncClient,
) -> None:
    # `begin` locks the key and looks it up in one statement, whose snapshot predates the lock:
    # a record committed by the key's previous holder just then is not seen until `record`.
    db = runtime(probe).db()
    key = str(uuid4())
    scope = {"method": "POST", "path": "/staff"}
    claim = idempotency.Claim("probe-key", key, "ours", timedelta(hours=24), scope)
    with idempotency.claiming(claim):
        async with db.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            await idempotency.begin(conn)
            await db.execute(
                """INSERT INTO idempotency_keys (principal, key, method, path, request_hash,
                                                 status_code, resource_id, location)
                   VALUES ('probe-key', $1, 'POST', '/staff', 'theirs', 201, 'x', '/staff/x')""",
                key,
            )
            with pytest.raises(idempotency.AlreadyDone):
                await idempotency.record(conn, "ours")
            await transaction.rollback()

    assert claim.found is not None
    assert claim.found.request_hash == "theirs"
    kept = await db.fetchval("SELECT request_hash FROM idempotency_keys WHERE key = $1", key)
    assert kept == "theirs"


async def test_a_command_whose_key_was_recorded_meanwhile_is_rolled_back_and_replayed(
    probe: httpx.AsyncClient,
) -> None:
    # The same race through a whole request: the record and the outbox rows go in one
    # statement at commit, which finds the live record and writes neither.
    first_key = str(uuid4())
    existing = (
        await probe.post("/staff", json=staff(), headers={**KEY, "Idempotency-Key": first_key})
    ).json()
    principal = (
        await runtime(probe)
        .db()
        .fetchval("SELECT principal FROM idempotency_keys WHERE key = $1", first_key)
    )
    before = await staff_rows(probe)
    key = str(uuid4())
    runtime(probe).definition.state["delay"] = 1.0
    try:
        request = asyncio.create_task(
            probe.post("/staff", json=staff(), headers={**KEY, "Idempotency-Key": key})
        )
        await asyncio.sleep(0.4)  # past `begin`, inside the command
        await (
            runtime(probe)
            .db()
            .execute(
                """INSERT INTO idempotency_keys (principal, key, method, path, request_hash,
                                                 status_code, resource_id, location)
                   VALUES ($4, $1, 'POST', '/staff', 'theirs', 201, $2, $3)""",
                key,
                existing["id"],
                f"/staff/{existing['id']}",
                principal,
            )
        )
        answer = await request
    finally:
        runtime(probe).definition.state["delay"] = 0.0

    assert answer.status_code == 422  # the record's request had another body
    assert await staff_rows(probe) == before
    kept = (
        await runtime(probe)
        .db()
        .fetchval("SELECT request_hash FROM idempotency_keys WHERE key = $1", key)
    )
    assert kept == "theirs"
