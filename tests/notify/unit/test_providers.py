"""How provider answers become outcomes, and what goes into an email."""

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import cast
from uuid import uuid4

import httpx
import pytest
from structlog.testing import capture_logs

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import Channel, NotificationChannel
from counseling_shared.service import Runtime
from devstack.ports import free_port
from notify.adapters.booking_directory import parse_contact
from notify.adapters.smtp import SmtpProvider, _by_reply_code, message_id
from notify.adapters.webhooks import WebhookProvider, outcome_of_status
from notify.application.ports import ClientNotFound, DirectoryUnavailable, OutgoingMessage
from notify.bootstrap import providers
from notify.domain.codes import AttemptOutcome
from notify.settings import NotifySettings

TRANSIENT, PERMANENT, SENT = (
    AttemptOutcome.TRANSIENT_FAILURE,
    AttemptOutcome.PERMANENT_FAILURE,
    AttemptOutcome.SENT,
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, SENT),
        (202, SENT),
        (429, TRANSIENT),
        (500, TRANSIENT),
        (503, TRANSIENT),
        (401, TRANSIENT),  # notify's credential refused: fixed by an operator, then sent
        (403, TRANSIENT),
        (400, PERMANENT),
        (404, PERMANENT),
        (422, PERMANENT),
    ],
)
def test_http_answers_are_retried_only_when_they_may_change(
    status: int, kind: AttemptOutcome
) -> None:
    outcome = outcome_of_status(status)
    assert outcome.kind is kind
    assert outcome.error_code == (None if kind is SENT else f"http_{status}")


@pytest.mark.parametrize(("code", "kind"), [(421, TRANSIENT), (451, TRANSIENT), (550, PERMANENT)])
def test_smtp_4xx_is_retried_and_5xx_is_not(code: int, kind: AttemptOutcome) -> None:
    assert _by_reply_code(code).kind is kind


def test_an_email_carries_a_message_id_derived_from_the_notification() -> None:
    notification_id = uuid4()
    provider = SmtpProvider(
        host="localhost",
        port=25,
        sender="center@counseling.example",
        clock=ControllableClock(datetime(2030, 1, 2, 3, 4, tzinfo=UTC)),
    )
    email = provider.compose(
        OutgoingMessage(
            notification_id=notification_id,
            channel=NotificationChannel.EMAIL,
            to="client@mail.example",
            subject="Comment allez-vous ?",
            body="Bonjour,\n\n…",
            language="fr",
        )
    )
    assert email["Message-ID"] == f"<{notification_id}@notify.counseling-suite>"
    assert email["Message-ID"] == message_id(notification_id)
    assert email["Content-Language"] == "fr"
    assert email["Date"] == "Wed, 02 Jan 2030 03:04:00 +0000"
    assert email.get_content().startswith("Bonjour")


def test_the_directorys_answer_is_read_into_a_contact() -> None:
    client_id = uuid4()
    answer = {
        "client_id": str(client_id),
        "email": "c@mail.example",
        "phone": None,
        "locale": "ko",
        "timezone": "Asia/Seoul",
        "preferred_channel": "phone",
        "site_id": str(uuid4()),
    }
    contact = parse_contact(client_id, json.dumps(answer).encode())
    assert (contact.email, contact.phone, contact.preferred_channel) == (
        "c@mail.example",
        None,
        Channel.PHONE,
    )


def test_an_unknown_client_can_never_be_reached_but_a_garbled_answer_is_retried() -> None:
    with pytest.raises(ClientNotFound):
        parse_contact(uuid4(), b'{"error": "not_found"}')
    with pytest.raises(DirectoryUnavailable):
        parse_contact(uuid4(), b"<html>")
    with pytest.raises(DirectoryUnavailable):
        parse_contact(uuid4(), b'{"error": "internal"}')


def test_a_reply_naming_another_client_is_not_used_and_is_retried() -> None:
    asked = uuid4()
    forged = {
        "client_id": str(uuid4()),
        "email": "attacker@mail.example",
        "phone": "+15550000000",
        "preferred_channel": "email",
    }
    with capture_logs() as logged:
        with pytest.raises(DirectoryUnavailable, match="another client"):
            parse_contact(asked, json.dumps(forged).encode())
        without_id = {k: v for k, v in forged.items() if k != "client_id"}
        with pytest.raises(DirectoryUnavailable):
            parse_contact(asked, json.dumps(without_id).encode())
    mismatches = [e for e in logged if e["event"] == "directory_reply_mismatch"]
    assert [e["client_id"] for e in mismatches] == [str(asked), str(asked)]
    assert "attacker@mail.example" not in repr(logged)
    assert "+15550000000" not in repr(logged)


def message_to(address: str, channel: NotificationChannel) -> OutgoingMessage:
    return OutgoingMessage(uuid4(), channel, address, "Subject", "Body", "en")


async def test_an_smtp_server_that_refuses_connections_is_retried_later() -> None:
    provider = SmtpProvider(
        host="127.0.0.1", port=free_port(), sender="c@example.org", clock=ControllableClock()
    )
    outcome = await provider.send(message_to("a@example.org", NotificationChannel.EMAIL))
    assert (outcome.kind, outcome.error_code) == (TRANSIENT, "smtp_unreachable")


async def test_an_http_provider_that_refuses_connections_is_retried_later() -> None:
    async with httpx.AsyncClient(timeout=2.0) as client:
        provider = WebhookProvider(client, f"http://127.0.0.1:{free_port()}/sms")
        outcome = await provider.send(message_to("+15550100", NotificationChannel.SMS))
    assert (outcome.kind, outcome.error_code) == (TRANSIENT, "http_unreachable")


async def test_a_header_injection_in_an_address_fails_for_good() -> None:
    provider = SmtpProvider(
        host="127.0.0.1", port=1, sender="c@example.org", clock=ControllableClock()
    )
    outcome = await provider.send(
        message_to("a@example.org\nBcc: everyone@example.org", NotificationChannel.EMAIL)
    )
    assert (outcome.kind, outcome.error_code) == (PERMANENT, "invalid_address")


async def test_a_capped_attempt_on_a_slow_drip_provider_ends_at_the_cap() -> None:
    # The crisis lane's providers are capped as a whole (PAGE_PROVIDER_TIMEOUT). Each read here
    # comes within the client's 1 s timeout, so httpx alone would wait about 4 s.
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n")
        for _ in range(20):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.2)
        writer.close()

    server = await asyncio.start_server(drip, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, httpx.AsyncClient(timeout=1.0) as client:
        settings = NotifySettings(sms_webhook_url=f"http://127.0.0.1:{port}/sms")
        runtime = cast(Runtime, SimpleNamespace(clock=ControllableClock()))
        provider = providers(settings, client, runtime, timeout_cap=0.5)[NotificationChannel.SMS]
        started = time.monotonic()
        outcome = await provider.send(message_to("+15550100", NotificationChannel.SMS))
        took = time.monotonic() - started

    assert (outcome.kind, outcome.error_code) == (TRANSIENT, "provider_timeout")
    assert took < 2.5, f"the attempt took {took:.1f} s"


_FIRST_REQUEST = """
import asyncio, sys
from pathlib import Path
from devstack.sinks import HttpSink
from notify.adapters.http_client import provider_client

async def first_request(url):
    async with provider_client(5.0) as client:
        before = set(sys.modules)
        answer = await client.post(url, json={"to": "+33612345678", "body": "page"})
        assert answer.status_code == 200, answer.status_code
        print(" ".join(sorted(set(sys.modules) - before)))

with HttpSink(Path(sys.argv[1])) as sink:
    asyncio.run(first_request(sink.sms_url))
"""


def test_a_lanes_http_client_has_loaded_what_its_first_request_needs(tmp_path: Path) -> None:
    """In a fresh interpreter, as in notify's process: the first page after a start used to
    import anyio's backend in its own time."""
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_REQUEST, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    assert [m for m in loaded if m.split(".")[0] in ("anyio", "httpcore", "h11", "httpx")] == []
