"""The embedded servers and the sinks behave like the real things the services expect."""

import json
import os
import smtplib
import urllib.error
import urllib.request
import uuid
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import nats
import pytest

from devstack.nats import NatsServer
from devstack.postgres import PostgresServer
from devstack.sinks import Sinks

pytestmark = pytest.mark.integration


async def test_nats_acks_jetstream_publishes_and_keeps_them_across_restart(
    own_nats_server: NatsServer,
) -> None:
    nats_server = own_nats_server
    stream = f"T{uuid.uuid4().hex[:8]}"
    client = await nats.connect(nats_server.url)
    try:
        jetstream = client.jetstream()
        await jetstream.add_stream(name=stream, subjects=[f"{stream}.>"])
        ack = await jetstream.publish(f"{stream}.x", b"kept", headers={"Nats-Msg-Id": "m1"})
        assert (ack.stream, ack.seq) == (stream, 1)
    finally:
        await client.close()

    nats_server.restart()

    client = await nats.connect(nats_server.url)
    try:
        message = await client.jetstream().get_msg(stream, 1)
        assert message.data == b"kept"
    finally:
        await client.close()


async def test_postgres_accepts_connections_and_has_btree_gist(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        await conn.execute(
            "CREATE TABLE booked (counselor int, during tstzrange,"
            " EXCLUDE USING gist (counselor WITH =, during WITH &&))"
        )
        await conn.execute("INSERT INTO booked VALUES (1, tstzrange(now(), now() + '1h'))")
        overlapping = "INSERT INTO booked VALUES (1, tstzrange(now(), now() + '2h'))"
        with pytest.raises(asyncpg.ExclusionViolationError):
            await conn.execute(overlapping)
    finally:
        await conn.close()


async def test_postgres_keeps_committed_rows_across_restart(
    own_postgres_server: PostgresServer,
) -> None:
    postgres_server = own_postgres_server
    database_url = postgres_server.url()
    conn = await asyncpg.connect(database_url)
    await conn.execute("CREATE TABLE kept (id int)")
    await conn.execute("INSERT INTO kept VALUES (42)")
    await conn.close()

    postgres_server.restart()

    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT id FROM kept") == 42
    finally:
        await conn.close()


async def test_postgres_recovers_from_a_kill_and_a_stale_lock_file(tmp_path: Path) -> None:
    with PostgresServer(tmp_path / "data") as server:
        conn = await asyncpg.connect(server.url())
        await conn.execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)")
        await conn.close()
        server.kill()
        # Leave postmaster.pid naming a live process that is not a postmaster.
        lock = server.data_dir / "postmaster.pid"
        lines = lock.read_text().splitlines()
        lock.write_text("\n".join([str(os.getppid()), *lines[1:]]) + "\n")

        server.start()

        conn = await asyncpg.connect(server.url())
        try:
            assert await conn.fetchval("SELECT id FROM kept") == 7
        finally:
            await conn.close()


def test_smtp_sink_files_and_remembers_each_email(sinks: Sinks) -> None:
    message = EmailMessage()
    message["From"] = "counseling@localhost"
    message["To"] = "지수 <jisu@example.com>"
    message["Subject"] = "Rappel : votre rendez-vous"
    message.set_content("À demain, 10 h.")
    with smtplib.SMTP(sinks.smtp.host, sinks.smtp.port) as client:
        client.send_message(message)

    [received] = sinks.smtp.wait_for(1)
    assert received.rcpt_tos == ("jisu@example.com",)
    assert received.message["Subject"] == "Rappel : votre rendez-vous"
    assert received.body.strip() == "À demain, 10 h."
    assert received.path == sinks.outbox_dir / "email" / "1.eml"
    assert b"Subject:" in received.path.read_bytes()


def test_an_smtp_failure_aimed_at_one_recipient_is_not_taken_by_another(sinks: Sinks) -> None:
    sinks.smtp.fail_next(1, to="busy@example.com")

    def send(to: str) -> None:
        with smtplib.SMTP(sinks.smtp.host, sinks.smtp.port) as client:
            client.sendmail("counseling@localhost", [to], f"To: {to}\r\n\r\nHello")

    send("someone@example.com")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send("busy@example.com")
    assert refused.value.smtp_code == 451
    send("busy@example.com")
    assert [m.rcpt_tos for m in sinks.smtp.wait_for(2)] == [
        ("someone@example.com",),
        ("busy@example.com",),
    ]


def test_http_sink_records_posts_and_fails_on_request(sinks: Sinks) -> None:
    payload = {"to": "+15550100", "body": "Your session is tomorrow", "idempotency_key": "k1"}
    assert _post(sinks.http.sms_url, payload) == 200

    sinks.http.fail_next(2)
    assert _post(sinks.http.sms_url, payload) == 503
    assert _post(sinks.http.messaging_url, payload) == 503
    assert _post(sinks.http.sms_url, payload) == 200

    first, retried = sinks.http.sms
    assert (first.to, first.body, first.idempotency_key) == ("+15550100", payload["body"], "k1")
    assert (first.duplicate, retried.duplicate) == (False, True)
    assert sinks.http.messaging == []
    assert json.loads((sinks.outbox_dir / "sms" / "1.json").read_text()) == payload


def test_an_http_failure_aimed_at_one_recipient_is_not_taken_by_another(sinks: Sinks) -> None:
    """Tests share one sink: another test's message in flight must not take a failure armed
    for this test's recipient, nor change the status it was armed with."""
    sinks.http.fail_next(1, channel="sms", status=503, to="+15550000503")
    sinks.http.fail_next(1, channel="sms", status=400, to="+15550000400")

    assert _post(sinks.http.sms_url, {"to": "+15550000001", "body": "someone else"}) == 200
    assert _post(sinks.http.sms_url, {"to": "+15550000400", "body": "refused"}) == 400
    assert _post(sinks.http.messaging_url, {"to": "+15550000503", "body": "other channel"}) == 200
    assert _post(sinks.http.sms_url, {"to": "+15550000503", "body": "retried"}) == 503
    assert _post(sinks.http.sms_url, {"to": "+15550000503", "body": "retried"}) == 200


def test_http_sink_rejects_what_is_not_a_message(sinks: Sinks) -> None:
    assert _post(f"{sinks.http.url}/fax", {"to": "x", "body": "y"}) == 404
    assert _post(sinks.http.sms_url, {"text": "no recipient"}) == 400
    assert sinks.http.requests() == []


def _post(url: str, payload: object) -> int:
    request = urllib.request.Request(  # noqa: S310 (http URLs of our own sink)
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


async def test_postgres_starts_with_extra_settings_for_one_run(tmp_path: Path) -> None:
    # bench.pg_time loads pg_stat_statements this way; without settings nothing is preloaded.
    settings = {"shared_preload_libraries": "pg_stat_statements"}
    with PostgresServer(tmp_path / "data", settings=settings) as server:
        conn = await asyncpg.connect(server.url())
        try:
            assert await conn.fetchval("SHOW shared_preload_libraries") == "pg_stat_statements"
            assert await conn.fetchval("SHOW max_connections") == "200"  # devstack's own kept
        finally:
            await conn.close()
    assert PostgresServer(tmp_path / "other").settings.get("shared_preload_libraries") is None
