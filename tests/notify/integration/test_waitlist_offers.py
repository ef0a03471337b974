"""A waitlist offer reaches the client in their language with its accept link, and waits out
their quiet hours like any bulk message."""

from datetime import timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from counseling_shared.events import WaitlistOfferMade
from tests.notify.integration.conftest import Notify, eventually

pytestmark = pytest.mark.integration


def offer(notify: Notify, client_id: UUID, site_id: UUID) -> WaitlistOfferMade:
    start = notify.clock.now() + timedelta(days=2)
    return WaitlistOfferMade(
        offer_id=uuid4(),
        client_id=client_id,
        site_id=site_id,
        appointment_start=start,
        appointment_end=start + timedelta(minutes=50),
        counselor_id=uuid4(),
        accept_url=f"https://booking.example/waitlist/offers/{uuid4()}/accept?token=t0k3n",
        expires_at=notify.clock.now() + timedelta(minutes=15),
    )


async def test_a_waitlist_offer_is_emailed_in_the_clients_language_with_its_link(
    notify: Notify,
) -> None:
    site_id = await notify.new_site(timezone="Europe/Paris")
    client_id = await notify.new_client(site_id, uuid4(), timezone="Europe/Paris")
    address = f"offer-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, locale="fr", timezone="Europe/Paris")
    made = offer(notify, client_id, site_id)

    await notify.publish(made, source="booking", subject=made.offer_id)

    async def delivered() -> list[str]:
        return [m.body for m in notify.sinks.smtp.messages if address in m.rcpt_tos]

    [body] = await eventually(delivered, timeout=20.0)
    assert made.accept_url in body
    assert "Bonjour" in body


async def test_a_waitlist_offer_waits_out_the_clients_quiet_hours(notify: Notify) -> None:
    site_id = await notify.new_site(timezone="Asia/Seoul")
    client_id = await notify.new_client(site_id, uuid4(), timezone="Asia/Seoul")
    notify.directory.add(client_id, email="quiet@mail.example", locale="ko", timezone="Asia/Seoul")
    local_now = notify.clock.now().astimezone(ZoneInfo("Asia/Seoul"))
    quiet = {
        "start": (local_now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (local_now + timedelta(hours=2)).strftime("%H:%M"),
    }
    assert (await notify.set_preferences(client_id, {"quiet_hours": quiet})).status_code == 200
    made = offer(notify, client_id, site_id)

    await notify.publish(made, source="booking", subject=made.offer_id)

    [held] = await eventually(lambda: notify.notifications(recipient_id=client_id))
    assert (held["template"], held["status"], held["held_for"]) == (
        "waitlist_offer",
        "pending",
        "quiet_hours",
    )
