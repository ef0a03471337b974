"""`counselctl clients erase` records the erasure in every service's audit trail, with the
operator as its actor, and deletes the dead letters naming the client, in the tables and on the
DLQ stream (here the four services' tables live in four schemas of one database)."""

from __future__ import annotations

import asyncio
import getpass
import json
import secrets
import socket
from uuid import UUID, uuid4

import nats
import nats.js.errors
import pytest
from typer.testing import CliRunner, Result

from counseling_shared.db import connect
from counseling_shared.jetstream import (
    DLQ_STREAM,
    REDRIVE_ORIGINAL_SUBJECT,
    ensure_streams,
    redrive_subject,
)
from counseling_shared.migrations import apply_migrations
from opsctl.cli import app
from tests.opsctl.integration.support import SCHEMAS

pytestmark = pytest.mark.integration


async def _entries(url: str, schema: str, client_id: UUID) -> list[tuple[str, str, str, int]]:
    conn = await connect(url, schema=schema)
    try:
        rows = await conn.fetch(
            "SELECT actor_kind, actor_id, action, status FROM audit WHERE client_id = $1",
            client_id,
        )
    finally:
        await conn.close()
    return [(r["actor_kind"], r["actor_id"], r["action"], r["status"]) for r in rows]


async def _migrated(url: str) -> None:
    for schema, migrations in SCHEMAS.items():
        conn = await connect(url, schema=schema)
        try:
            await apply_migrations(conn, migrations, schema=schema)
        finally:
            await conn.close()


def _env(database_url: str) -> dict[str, str]:
    env = {f"{s.upper()}_DATABASE_URL": database_url for s in SCHEMAS}
    return env | {f"{s.upper()}_DATABASE_SCHEMA": s for s in SCHEMAS}


def test_an_erasure_is_in_every_services_audit_trail_with_the_operator(
    database_url: str, nats_url: str
) -> None:
    asyncio.run(_migrated(database_url))
    client_id = uuid4()

    # In process (the command is the same; a new process would only add its start-up time).
    answer = CliRunner().invoke(
        app,
        ["clients", "erase", str(client_id), "--yes", "--json", "--nats-url", nats_url],
        env=_env(database_url),
    )

    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.stdout)["client_id"] == str(client_id)
    operator = ("operator", getpass.getuser(), "erase_client", 200)
    for schema in SCHEMAS:
        assert asyncio.run(_entries(database_url, schema, client_id)) == [operator], schema


# Dead letters naming the client, in two services' tables and on the DLQ stream.
CONSUMER = {"followup": "followup-probe", "notify": "notify-probe"}


def _payloads(x: UUID, y: UUID) -> dict[str, bytes]:
    return {
        "field": json.dumps({"type": "FollowupPlanned", "data": {"client_id": str(x)}}).encode(),
        "nested": json.dumps({"data": {"plan": [{"for": {"client": {"id": str(x)}}}]}}).encode(),
        "raw": b"\x00\xff not json " + str(x).encode() + b"\x80",
        "other": json.dumps({"type": "FollowupPlanned", "data": {"client_id": str(y)}}).encode(),
    }


async def _seed(database_url: str, nats_url: str, x: UUID, y: UUID) -> dict[str, dict[str, int]]:
    """The letters in followup's and notify's tables and on the stream (with a pending redrive
    of one of X's); returns each table row's id by service and name."""
    ids: dict[str, dict[str, int]] = {}
    nc = await nats.connect(nats_url)
    js = nc.jetstream(timeout=5.0)
    await ensure_streams(js)
    try:
        for service, consumer in CONSUMER.items():
            conn = await connect(database_url, schema=service)
            try:
                ids[service] = {
                    name: await conn.fetchval(
                        """INSERT INTO dead_letters (consumer, stream, stream_seq, subject,
                                   reason, detail, deliveries, payload, headers)
                           VALUES ($1, 'BOOKING', $2, 'booking.s.E', 'malformed', '-', 1, $3, '{}')
                           RETURNING id""",
                        consumer,
                        secrets.randbelow(2**62),
                        payload,
                    )
                    for name, payload in _payloads(x, y).items()
                }
            finally:
                await conn.close()
            for payload in _payloads(x, y).values():
                await js.publish(f"dlq.{service}.{consumer}", payload, stream=DLQ_STREAM)
        await js.publish(
            redrive_subject(CONSUMER["notify"]),
            b"{}",
            stream=DLQ_STREAM,
            headers={REDRIVE_ORIGINAL_SUBJECT: f"booking.{x}.ClientRegistered"},
        )
    finally:
        await nc.close()
    return ids


async def _left(database_url: str, ids: dict[str, dict[str, int]]) -> dict[str, set[str]]:
    found = {}
    for service, by_name in ids.items():
        conn = await connect(database_url, schema=service)
        try:
            kept = {r["id"] for r in await conn.fetch("SELECT id FROM dead_letters")}
        finally:
            await conn.close()
        found[service] = {name for name, letter_id in by_name.items() if letter_id in kept}
    return found


async def _on_stream(nats_url: str, *clients: UUID) -> list[UUID]:
    """Which of `clients` each message on the DLQ stream names (one entry per message)."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream(timeout=5.0)
    named: list[UUID] = []
    seq = 1
    try:
        while True:
            try:
                msg = await js.get_msg(DLQ_STREAM, seq=seq, subject=">", next=True)
            except nats.js.errors.NotFoundError:
                return named
            text = (msg.data or b"").decode("latin-1") + json.dumps(msg.headers or {})
            named += [c for c in clients if str(c) in text]
            assert msg.seq is not None
            seq = msg.seq + 1
    finally:
        await nc.close()


def _erase(database_url: str, client_id: UUID, nats_url: str, *more: str) -> Result:
    return CliRunner().invoke(
        app,
        ["clients", "erase", str(client_id), "--yes", "--nats-url", nats_url, *more],
        env=_env(database_url),
    )


def test_an_erasure_deletes_the_dead_letters_naming_the_client_in_tables_and_stream(
    database_url: str, nats_url: str
) -> None:
    asyncio.run(_migrated(database_url))
    x, y = uuid4(), uuid4()
    ids = asyncio.run(_seed(database_url, nats_url, x, y))

    answer = _erase(database_url, x, nats_url, "--json")

    assert answer.exit_code == 0, answer.output
    found = json.loads(answer.stdout)
    assert {s: counts["dead_letters"] for s, counts in found["erased"].items()} == {
        "crisis": 0,
        "followup": 3,
        "notify": 3,
        "booking": 0,
    }
    assert found["dlq_stream"]["removed"] == 7  # 3 copies in each service, 1 pending redrive
    assert found["dlq_stream"]["complete"] is True
    assert asyncio.run(_left(database_url, ids)) == {"followup": {"other"}, "notify": {"other"}}
    assert asyncio.run(_on_stream(nats_url, x, y)) == [y, y]

    # An erased letter cannot be redriven: it is not there any more.
    redrive = CliRunner().invoke(
        app,
        ["dead-letters", "redrive", str(ids["notify"]["field"]), "--service", "notify",
         "--database-url", database_url, "--database-schema", "notify", "--nats-url", nats_url],
    )  # fmt: skip
    assert redrive.exit_code == 1
    assert f"notify has no dead letter {ids['notify']['field']}: redrove none" in redrive.output


def test_without_nats_the_databases_are_erased_and_running_it_again_sweeps_the_stream(
    database_url: str, nats_url: str
) -> None:
    asyncio.run(_migrated(database_url))
    x, y = uuid4(), uuid4()
    ids = asyncio.run(_seed(database_url, nats_url, x, y))
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        nowhere = f"nats://127.0.0.1:{probe.getsockname()[1]}"

    cut_short = _erase(database_url, x, nowhere)
    left = asyncio.run(_left(database_url, ids))
    on_stream = asyncio.run(_on_stream(nats_url, x))
    again = _erase(database_url, x, nats_url, "--json")

    assert cut_short.exit_code == 3, cut_short.output
    assert "the DLQ stream was not swept" in cut_short.output
    assert f"counselctl clients erase {x} --yes` again" in cut_short.output
    assert left == {"followup": {"other"}, "notify": {"other"}}
    assert len(on_stream) == 7
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["dlq_stream"]["removed"] == 7
    assert asyncio.run(_on_stream(nats_url, x)) == []
