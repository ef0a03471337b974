"""A keyed booking's `Idempotency-Key` is looked up in its own transaction, under the key's
lock, not before the command runs; replays answer exactly as before."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from counseling_shared import idempotency
from counseling_shared.db import connect
from tests.booking.integration.support import ADMIN_KEY, Booking

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def practice(booking: Booking) -> dict[str, Any]:
    site = await booking.site()
    return {
        "counselor": await booking.counselor(site["id"]),
        "client": await booking.client(site["id"]),
    }


@pytest.fixture
def look_ups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys looked up outside a unit of work (the look-up before a command, or after one)."""
    seen: list[str] = []
    find = idempotency.find

    async def counted(conn: Any, principal: str, key: str, ttl: timedelta) -> Any:
        seen.append(key)
        return await find(conn, principal, key, ttl)

    monkeypatch.setattr(idempotency, "find", counted)
    return seen


def body_of(practice: dict[str, Any], start: str) -> dict[str, Any]:
    return {
        "counselor_id": practice["counselor"]["id"],
        "client_id": practice["client"]["id"],
        "start": start,
        "modality": "online",
    }


def keyed(key: str, request_id: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Idempotency-Key": key}
    return headers | ({"X-Request-ID": request_id} if request_id else {})


async def test_a_keyed_booking_and_its_replay_look_the_key_up_only_in_the_transaction(
    booking: Booking, practice: dict[str, Any], look_ups: list[str]
) -> None:
    body, key = body_of(practice, booking.at(hours=400).isoformat()), str(uuid.uuid4())

    first = await booking.http.post("/appointments", json=body, headers=keyed(key))
    again = await booking.http.post("/appointments", json=body, headers=keyed(key))

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert look_ups == []


async def test_the_same_body_spelt_otherwise_is_a_replay_not_a_422(
    booking: Booking, practice: dict[str, Any]
) -> None:
    """Contract: "the same key with the same body returns the first response again". A retry
    serialised afresh (other key order, spacing, escapes) is the same JSON body; it was a 422."""
    body, key = body_of(practice, booking.at(hours=412).isoformat()), str(uuid.uuid4())
    headers = keyed(key) | {"Content-Type": "application/json"}
    first = await booking.http.post("/appointments", json=body, headers=keyed(key))
    respelt = (
        "{\n  "
        + ",\n  ".join(
            f'"{name}" : {json.dumps(value, ensure_ascii=True)}'
            for name, value in reversed(body.items())
        ).replace("online", "\\u006fnline")
        + "\n}"
    )
    again = await booking.http.post("/appointments", content=respelt, headers=headers)
    other = await booking.http.post(
        "/appointments", content=json.dumps(body | {"modality": "phone"}), headers=headers
    )

    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")
    listed = await booking.get("/appointments", client_id=practice["client"]["id"])
    assert [a["id"] for a in listed.json()].count(first.json()["id"]) == 1
    assert len([a for a in listed.json() if a["start"] == first.json()["start"]]) == 1


async def test_a_replay_whose_command_would_be_refused_now_is_answered_from_its_record(
    booking: Booking, practice: dict[str, Any], look_ups: list[str]
) -> None:
    body, key = body_of(practice, booking.at(hours=402).isoformat()), str(uuid.uuid4())
    first = await booking.http.post("/appointments", json=body, headers=keyed(key))
    refused_body = {**body, "modality": "telepathy"}  # refused before the transaction

    same_body_later = await booking.http.post("/appointments", json=body, headers=keyed(key))
    other_body = await booking.http.post("/appointments", json=refused_body, headers=keyed(key))

    assert (first.status_code, same_body_later.status_code) == (201, 201)
    assert same_body_later.json()["id"] == first.json()["id"]
    assert other_body.status_code == 422
    assert other_body.json()["type"].endswith("/idempotency-key-reused")
    assert look_ups == [key]  # only the refused request looked it up, after its refusal


async def test_a_replay_leaves_one_audit_entry_for_its_read_and_none_for_the_attempt(
    booking: Booking, practice: dict[str, Any]
) -> None:
    body, key = body_of(practice, booking.at(hours=404).isoformat()), str(uuid.uuid4())
    request_id = uuid.uuid4().hex
    first = await booking.http.post("/appointments", json=body, headers=keyed(key))

    again = await booking.http.post("/appointments", json=body, headers=keyed(key, request_id))

    assert (first.status_code, again.status_code) == (201, 201)
    entries = [(row["action"], row["status"]) for row in await _audit_of(booking, request_id)]
    assert entries == [("get_appointment", 200)]


async def _audit_of(booking: Booking, request_id: str) -> list[Any]:
    conn = await connect(booking.database_url)
    try:
        rows: list[Any] = await conn.fetch(
            "SELECT action, status FROM audit WHERE request_id = $1 ORDER BY id", request_id
        )
    finally:
        await conn.close()
    return rows


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """(connection, SQL) of every statement run while a request with the key `counted-*` is
    served (its context carries the key's claim): the request's own, on whichever connection."""
    seen: list[tuple[int, str]] = []
    for name in ("execute", "fetch", "fetchrow", "fetchval"):
        original = getattr(asyncpg.Connection, name)

        def counting(original: Any) -> Any:
            async def run(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
                claim = idempotency._claim.get()
                if claim is not None and claim.key.startswith("counted-"):
                    seen.append((id(self), " ".join(query.split())))
                return await original(self, query, *args, **kwargs)

            return run

        monkeypatch.setattr(asyncpg.Connection, name, counting(original))
    return seen


async def test_a_keyed_booking_commits_in_four_round_trips(
    booking: Booking, practice: dict[str, Any], statements: list[tuple[int, str]]
) -> None:
    """BEGIN, the key's lock and look-up with the parties' read, the appointment with its
    events, outbox rows and key record, COMMIT: the key's lock and look-up were a statement of
    their own, and the outbox rows with the key record another."""
    body, key = body_of(practice, booking.at(hours=406).isoformat()), f"counted-{uuid.uuid4()}"

    first = await booking.http.post("/appointments", json=body, headers=keyed(key))
    again = await booking.http.post("/appointments", json=body, headers=keyed(key))

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    begun = [i for i, (_, sql) in enumerate(statements) if sql.startswith("BEGIN")]
    conn, _ = statements[begun[0]]
    transaction: list[str] = []
    for owner, sql in statements[begun[0] :]:
        if owner == conn:
            transaction.append(sql)
            if sql.startswith("COMMIT"):
                break
    assert len(transaction) == 4, transaction
    assert "pg_try_advisory_xact_lock" in transaction[1]
    assert "LEFT JOIN staff AS counselor" in transaction[1]
    assert "INSERT INTO idempotency_keys" in transaction[2]
    assert "INSERT INTO outbox" in transaction[2]
    assert "INSERT INTO appointments" in transaction[2]


async def test_a_booking_whose_key_another_request_holds_is_refused_and_writes_nothing(
    booking: Booking, practice: dict[str, Any]
) -> None:
    """The key's lock is taken by the booking's first read: held elsewhere, the booking is a
    409 `request-in-progress` and books nothing."""
    learned = str(uuid.uuid4())
    body = body_of(practice, booking.at(hours=408).isoformat())
    assert (await booking.http.post("/appointments", json=body, headers=keyed(learned))).is_success
    conn = await connect(booking.database_url)
    try:
        principal = await conn.fetchval(
            "SELECT principal FROM idempotency_keys WHERE key = $1", learned
        )
        key, start = str(uuid.uuid4()), booking.at(hours=410).isoformat()
        async with conn.transaction():  # what a running request with the key holds
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                f"idempotency/{principal}/{key}",
            )
            held = await booking.http.post(
                "/appointments", json=body_of(practice, start), headers=keyed(key)
            )
        booked = await conn.fetchval(
            "SELECT count(*) FROM appointments WHERE start_at = $1::timestamptz",
            booking.at(hours=410),
        )
    finally:
        await conn.close()

    assert held.status_code == 409
    assert held.json()["type"].endswith("/request-in-progress")
    assert booked == 0
    after = await booking.http.post(
        "/appointments", json=body_of(practice, start), headers=keyed(key)
    )
    assert after.status_code == 201
