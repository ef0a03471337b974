"""How provider answers become outcomes, and what goes into an email."""

import json
from datetime import UTC, datetime
from uuid import uuid4

import httpx
import pytest
from structlog.testing import capture_logs

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import Channel, NotificationChannel
from devstack.ports import free_port
from notify.adapters.booking_directory import parse_contact
from notify.adapters.smtp import SmtpProvider, _by_reply_code, message_id
from notify.adapters.webhooks import WebhookProvider, outcome_of_status
from notify.application.ports import ClientNotFound, DirectoryUnavailable, OutgoingMessage
from notify.domain.codes import AttemptOutcome

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
