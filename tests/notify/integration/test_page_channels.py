"""A page's SMS never waits for its email: with an SMTP server that accepts connections and
never answers, every page's SMS still goes out at once, and the email attempt gives up within
the crisis lane's 10 s provider budget."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.events import PageRequested
from tests.notify.integration.conftest import Notify, eventually

pytestmark = pytest.mark.integration

PAGES = 3


class SilentSmtp:
    """Accepts TCP connections and never says a word (no greeting, no reply)."""

    def __init__(self) -> None:
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        await reader.read()  # until the client hangs up

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        self._server.close()


@pytest.fixture(scope="module")
async def silent_smtp() -> AsyncIterator[SilentSmtp]:
    server = SilentSmtp()
    server.port = await server.start()  # type: ignore[attr-defined]
    yield server
    await server.close()


@pytest.fixture(scope="module")
def notify_overrides(silent_smtp: SilentSmtp) -> dict[str, Any]:
    # A generous SMTP timeout: the crisis lane must cap it at 10 s on its own.
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": silent_smtp.port,  # type: ignore[attr-defined]
        "smtp_timeout": 120.0,
        "crisis_workers": 2,
    }


async def _sent_sms(notify: Notify, staff_id: UUID) -> int:
    count: int = await notify.pool.fetchval(
        """SELECT count(*) FROM notifications
           WHERE recipient_id = $1 AND channel = 'sms' AND status = 'sent'""",
        staff_id,
    )
    return count


async def test_a_silent_smtp_server_never_delays_a_pages_sms(
    notify: Notify, silent_smtp: SilentSmtp
) -> None:
    site_id = await notify.new_site()
    staff_id = await notify.new_staff(site_id, phone="+33622222222")
    for n in range(1, PAGES + 1):
        alert_id = uuid4()
        started = time.monotonic()
        await notify.publish(
            PageRequested(
                alert_id=alert_id, page_id=uuid4(), staff_id=staff_id, site_id=site_id, level=1
            ),
            source="crisis",
            subject=alert_id,
        )

        async def sms_sent(expected: int = n) -> bool:
            return await _sent_sms(notify, staff_id) >= expected

        # Each page's SMS within a few seconds, although every earlier email still hangs.
        await eventually(sms_sent, timeout=8.0)
        assert time.monotonic() - started < 8.0
    assert silent_smtp.connections >= 1


async def test_a_pages_email_on_a_silent_server_times_out_within_ten_seconds(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    staff_id = await notify.new_staff(site_id, phone="+33633333333")
    alert_id = uuid4()
    await notify.publish(
        PageRequested(
            alert_id=alert_id, page_id=uuid4(), staff_id=staff_id, site_id=site_id, level=1
        ),
        source="crisis",
        subject=alert_id,
    )

    async def email_attempted() -> Any:
        return await notify.pool.fetchrow(
            """SELECT n.created_at, n.claimed_until, a.at, a.error_code
               FROM notifications n JOIN notification_attempts a ON a.notification_id = n.id
               WHERE n.recipient_id = $1 AND n.channel = 'email' ORDER BY a.number LIMIT 1""",
            staff_id,
        )

    attempt = await eventually(email_attempted, timeout=40.0, interval=0.2)
    # The SMTP client's own 10 s step timeout, or the attempt's 10 s cap, whichever ends first.
    assert attempt["error_code"] in {"smtp_timeout", "provider_timeout"}
    # Claimed at most a few seconds after the page was queued (other emails may hold the
    # email workers for up to 10 s each), then at most 10 s at the provider.
    assert (attempt["at"] - attempt["created_at"]).total_seconds() < 35.0
