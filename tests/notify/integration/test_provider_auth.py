"""Providers that want a credential: notify sends each provider URL its own header (the secret
from the env or from a file), a refused credential (401) is handed to the fallback provider
at once, retried, counted and logged without the secret."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.codes import Channel
from devstack.sinks import HttpSink
from notify.adapters import webhooks
from tests.notify.integration.conftest import Notify, eventually, followup_due

pytestmark = pytest.mark.integration

PRIMARY_TOKEN = "Bearer primary-s3cret-token"  # noqa: S105 (a test credential)
FALLBACK_KEY = "fallback-s3cret-key"


@pytest.fixture(scope="module")
def fallback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpSink]:
    outbox: Path = tmp_path_factory.mktemp("fallback-outbox")
    with HttpSink(outbox) as sink:
        sink.require_auth("X-Api-Key", FALLBACK_KEY)
        yield sink


@pytest.fixture(scope="module")
def notify_overrides(
    fallback: HttpSink, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    secret = tmp_path_factory.mktemp("secrets") / "sms-auth"
    secret.write_text(PRIMARY_TOKEN + "\n")  # as `echo` or a mounted Secret writes it
    return {
        "sms_webhook_auth_file": secret,
        "sms_fallback_webhook_url": fallback.sms_url,
        "sms_fallback_webhook_auth_header": "X-Api-Key",
        "sms_fallback_webhook_auth": FALLBACK_KEY,
    }


@pytest.fixture(autouse=True)
def primary_checks_its_key(notify: Notify) -> Iterator[None]:
    notify.sinks.http.require_auth("Authorization", PRIMARY_TOKEN)
    yield
    notify.sinks.http.state.required_auth = None


async def settled(notify: Notify, recipient_id: UUID) -> dict[str, Any]:
    async def probe() -> list[dict[str, Any]]:
        rows = await notify.notifications(recipient_id=recipient_id)
        return [r for r in rows if r["status"] != "pending"]

    found = await eventually(probe, timeout=20.0)
    return await notify.notification(found[0]["id"])


async def due(notify: Notify, phone: str, email: str | None = None) -> UUID:
    site_id = await notify.new_site()
    client_id = uuid4()
    notify.directory.add(client_id, phone=phone, email=email, preferred_channel=Channel.SMS)
    await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)
    return client_id


async def test_each_provider_gets_its_own_credential_header(
    notify: Notify, fallback: HttpSink
) -> None:
    phone = "+33655510001"
    client_id = await due(notify, phone)

    detail = await settled(notify, client_id)

    assert (detail["status"], detail["attempts"]) == ("sent", 1)
    [taken] = [r for r in notify.sinks.http.sms if r.to == phone]
    assert taken.headers["authorization"] == PRIMARY_TOKEN  # from the file, newline dropped
    assert "x-api-key" not in taken.headers  # the fallback's key stays the fallback's
    assert [r for r in fallback.sms if r.to == phone] == []


class Recorder:
    """Stands in for a module's structlog logger: what was logged, with every field."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Any:
        return lambda event, **fields: self.lines.append((event, fields))


async def test_a_refused_credential_goes_to_the_fallback_at_once_and_is_counted(
    notify: Notify, fallback: HttpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged = Recorder()
    monkeypatch.setattr(webhooks, "log", logged)
    notify.sinks.http.require_auth("Authorization", "Bearer rotated-by-the-provider")
    phone = "+33655510002"
    client_id = await due(notify, phone)

    detail = await settled(notify, client_id)

    assert (detail["status"], detail["attempts"]) == ("sent", 1)
    [taken] = [r for r in fallback.sms if r.to == phone]
    assert taken.headers["x-api-key"] == FALLBACK_KEY
    assert "authorization" not in taken.headers
    metrics = (await notify.http.get("/metrics")).text
    line = 'notify_provider_auth_rejections_total{channel="sms",provider="primary"}'
    assert line in metrics
    assert f"{line} 0.0" not in metrics
    [(_, fields)] = [line for line in logged.lines if line[0] == "provider_auth_rejected"]
    assert (fields["channel"], fields["provider"], fields["status"]) == ("sms", "primary", 401)
    assert "s3cret" not in repr(logged.lines)  # neither credential, in any line


async def test_both_credentials_refused_is_retried_then_the_next_channel_takes_it(
    notify: Notify, fallback: HttpSink
) -> None:
    notify.sinks.http.require_auth("Authorization", "Bearer rotated-by-the-provider")
    fallback.require_auth("X-Api-Key", "also-rotated")
    try:
        phone, email = "+33655510003", "client-401@example.org"
        client_id = await due(notify, phone, email)

        detail = await settled(notify, client_id)
    finally:
        fallback.require_auth("X-Api-Key", FALLBACK_KEY)

    # Retried like an outage (the credential may be fixed meanwhile), never a silent "sent";
    # the last attempt hands the message to the client's next channel.
    log = [(a["channel"], a["outcome"], a["error_code"]) for a in detail["attempt_log"]]
    refused = ("sms", "transient_failure", "http_401+fallback_http_401")
    assert log[:-1] == [refused] * (notify.settings.max_attempts)
    assert log[-1] == ("email", "sent", None)
    assert (detail["status"], detail["channel"]) == ("sent", "email")
