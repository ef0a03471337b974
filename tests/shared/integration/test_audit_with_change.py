"""A change's audit entry is committed with the change itself (docs/security.md, "Audit"):
a request that dies after its commit keeps its one entry, and an entry that cannot be written
takes the change down with it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import nats
import pytest

from counseling_shared import audit_batch
from counseling_shared.audit import AuditEntry
from counseling_shared.clock import SystemClock
from counseling_shared.service import Runtime, create_app
from devstack.handles import NatsHandle
from tests.shared.integration.probe_service import API_KEY, probe_definition
from tests.shared.integration.support import eventually, served

pytestmark = pytest.mark.integration

SITE = uuid4()
KEY = {"Authorization": f"Bearer {API_KEY}"}


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


def staff(name: str) -> dict[str, Any]:
    return {"site_id": str(SITE), "name": name, "role": "counselor", "email": "c@center.example"}


async def entries(client: httpx.AsyncClient, request_id: str) -> list[Any]:
    return list(
        await runtime(client)
        .db()
        .fetch("SELECT * FROM audit WHERE request_id = $1 ORDER BY id", request_id)
    )


async def test_a_change_keeps_its_entry_when_the_write_after_the_answer_fails(
    probe: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail(pool: Any, entry: AuditEntry) -> None:
        raise ConnectionError("the process died before writing the entry")

    monkeypatch.setattr(audit_batch, "record", fail)
    request_id = f"change-{uuid4().hex}"

    answer = await probe.post(
        "/staff", json=staff("Ji-woo Han"), headers={**KEY, "X-Request-ID": request_id}
    )

    assert answer.status_code == 201, answer.text
    found = await entries(probe, request_id)
    assert [(e["action"], e["status"], e["resource_id"]) for e in found] == [
        ("register_staff", 201, answer.json()["id"])
    ]
    assert found[0]["site_id"] == SITE


@pytest.mark.audit_status_differs
async def test_a_change_whose_request_dies_after_its_commit_has_one_entry(
    probe: httpx.AsyncClient,
) -> None:
    request_id = f"dies-{uuid4().hex}"
    runtime(probe).definition.state["fail_after_commit"] = True
    try:
        answer = await probe.post(
            "/staff", json=staff("Ha-eun Lee"), headers={**KEY, "X-Request-ID": request_id}
        )
    finally:
        runtime(probe).definition.state["fail_after_commit"] = False

    assert answer.status_code == 500
    found = await entries(probe, request_id)
    # The change was made: its entry, written with it, says so (the answer that failed after
    # the commit is logged as `audit_status_differs`).
    assert [(e["action"], e["status"]) for e in found] == [("register_staff", 201)]
    stored = (
        await runtime(probe)
        .db()
        .fetchval("SELECT count(*) FROM staff WHERE id = $1::uuid", found[0]["resource_id"])
    )
    assert stored == 1


async def test_a_change_whose_entry_cannot_be_written_is_not_made(
    probe: httpx.AsyncClient, nats_server: NatsHandle
) -> None:
    bus = await nats.connect(nats_server.url)
    seen: list[str] = []

    async def note(message: Any) -> None:
        seen.append(json.loads(message.data)["data"]["name"])

    await bus.subscribe(f"booking.{SITE}.StaffRegistered", cb=note)
    db = runtime(probe).db()
    before = await db.fetchval("SELECT count(*) FROM staff")
    await db.execute(
        """CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$;
           CREATE TRIGGER refuse_audit BEFORE INSERT ON audit
           FOR EACH ROW EXECUTE FUNCTION refuse_audit()"""
    )
    try:
        refused = await probe.post("/staff", json=staff("Refused Person"), headers=KEY)
        keyed = await probe.post(
            "/staff",
            json=staff("Refused Keyed"),
            headers={**KEY, "Idempotency-Key": uuid4().hex},
        )
    finally:
        await db.execute("DROP TRIGGER refuse_audit ON audit; DROP FUNCTION refuse_audit()")
    try:
        for answer in (refused, keyed):
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            assert "audit trail" in answer.json()["detail"]
            assert answer.headers["retry-after"] == "5"  # nothing was made: try again soon
        assert await db.fetchval("SELECT count(*) FROM staff") == before
        # Nothing went out: a change made afterwards is the only one on the bus.
        made = await probe.post("/staff", json=staff("Made Person"), headers=KEY)
        assert made.status_code == 201, made.text

        async def arrived() -> bool:
            return "Made Person" in seen

        await eventually(arrived)
        assert "Refused Person" not in seen
        assert "Refused Keyed" not in seen
    finally:
        await bus.close()


async def test_each_change_has_exactly_one_entry_and_a_read_keeps_its_own(
    probe: httpx.AsyncClient,
) -> None:
    made = []
    for n in range(3):
        request_id = f"one-{n}-{uuid4().hex}"
        answer = await probe.post(
            "/staff", json=staff(f"Person {n}"), headers={**KEY, "X-Request-ID": request_id}
        )
        assert answer.status_code == 201, answer.text
        made.append((request_id, answer.json()["id"]))
    read_id = f"read-{uuid4().hex}"
    read = await probe.get(f"/staff/{made[0][1]}", headers={**KEY, "X-Request-ID": read_id})
    assert read.status_code == 200

    for request_id, staff_id in made:
        found = await entries(probe, request_id)
        assert [(e["status"], e["resource_id"]) for e in found] == [(201, staff_id)]
    assert [(e["action"], e["status"]) for e in await entries(probe, read_id)] == [
        ("get_staff", 200)
    ]
