"""Which time zone a client's message is written in when booking's answer has none: the zone
notify learned from ClientRegistered, else the site's, else UTC."""

import re
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from counseling_shared.codes import Channel
from counseling_shared.events import ClientRegistered
from tests.notify.integration.conftest import Notify, eventually

pytestmark = pytest.mark.integration
START = datetime(2030, 5, 14, 6, 0, tzinfo=UTC)  # 15:00 in Seoul, 08:00 in Paris


async def confirmation_body(notify: Notify, site_id: UUID, client_id: UUID, address: str) -> str:
    await notify.book(client_id, site_id, START)

    def delivered() -> list[str]:
        return [m.body for m in notify.sinks.smtp.messages if address in m.rcpt_tos]

    [body] = await eventually(lambda: _async(delivered()), timeout=20.0)
    return body


async def _async(value: list[str]) -> list[str]:
    return value


def shows(body: str, hour: int) -> bool:
    return re.search(rf"\b{hour}:00\W?[AP]M", body) is not None


async def test_without_a_zone_from_booking_the_registered_clients_zone_is_used(
    notify: Notify,
) -> None:
    site_id = await notify.new_site(timezone="Europe/Paris")
    client_id = uuid4()
    address = f"zone-{client_id.hex[:8]}@mail.example"
    await notify.publish(
        ClientRegistered(
            client_id=client_id,
            site_id=site_id,
            locale="en",
            timezone="Asia/Seoul",
            preferred_channel=Channel.EMAIL,
        ),
        source="booking",
        subject=client_id,
    )

    async def profile_known() -> bool:
        found = await notify.pool.fetchval(
            "SELECT count(*) FROM clients WHERE client_id = $1", client_id
        )
        return bool(found)

    await eventually(profile_known, timeout=20.0)
    notify.directory.add(client_id, email=address, timezone=None)

    body = await confirmation_body(notify, site_id, client_id, address)

    assert shows(body, 3), body  # 15:00 in Seoul, not 08:00 in Paris
    assert not shows(body, 8), body


async def test_without_any_client_zone_the_sites_zone_is_used(notify: Notify) -> None:
    site_id = await notify.new_site(timezone="Europe/Paris")
    client_id = uuid4()
    address = f"zone-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, timezone=None)

    async def site_known() -> bool:
        found = await notify.pool.fetchval("SELECT count(*) FROM sites WHERE site_id = $1", site_id)
        return bool(found)

    await eventually(site_known, timeout=20.0)

    body = await confirmation_body(notify, site_id, client_id, address)

    assert shows(body, 8), body  # 08:00 in Paris
    assert not shows(body, 6), body


async def test_an_unknown_zone_everywhere_writes_utc(notify: Notify) -> None:
    site_id = uuid4()  # a site notify never heard of
    client_id = uuid4()
    address = f"zone-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, timezone="Not/AZone")

    body = await confirmation_body(notify, site_id, client_id, address)

    assert shows(body, 6), body  # 06:00 UTC
