"""In a real browser: the client opens the confirm-or-cancel link of the reminder email notify
sent (the SMTP sink), confirms; and a late cancellation shows the site's fee before the
second, deliberate button cancels. Booking → followup → notify → the client's phone."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser import chromium, needs_chromium
from tests.e2e.center import Center, checkin_emails, created, unique_email
from tests.e2e.harness import Suite, eventually

pytestmark = pytest.mark.e2e
_LINK = re.compile(r"https?://\S+/manage\?token=\S+")


def _zone_at_midday() -> str:
    """A fixed-offset zone where it is about noon now: the reminder is not held for quiet
    hours whenever the suite runs."""
    offset = 12 - datetime.now(UTC).hour  # -11 … +12
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"  # Etc names invert the sign


async def _reminded(suite: Suite, *, hours_ahead: int, fee: bool = False) -> tuple[Any, ...]:
    """A French client booked `hours_ahead` from now, whose reminder falls due in seconds;
    the appointment and the link of the reminder email."""
    center = await Center.open(suite, timezone=_zone_at_midday(), locale="fr")
    # One reminder, a few seconds from now (the policy's offset before the start).
    await center.set_followup_policy(appointment_reminders=[f"PT{hours_ahead - 1}H59M56S"])
    if fee:
        async with suite.client("booking") as booking:
            rules = await booking.put(
                f"/sites/{center.site_id}/booking-rules",
                json={"missed_session_fee": {"amount": "40.00", "currency": "EUR"}},
            )
            assert rules.status_code == 200, rules.text
    address = unique_email("reminded")
    client = await center.register_client(email=address, locale="fr")
    appointment = await center.book_soon(client["id"], in_seconds=hours_ahead * 3600)
    [email] = await eventually(lambda: checkin_emails(suite, client["id"], address), timeout=20)
    link = _LINK.search(email.body)
    assert link is not None, email.body
    return appointment, link[0]


async def _appointment(suite: Suite, appointment_id: str) -> dict[str, Any]:
    async with suite.client("booking") as booking:
        return created(await booking.get(f"/appointments/{appointment_id}"))


@needs_chromium
async def test_in_a_browser_the_client_confirms_from_the_reminder(suite: Suite) -> None:
    appointment, link = await _reminded(suite, hours_ahead=48)

    async with chromium() as browser:
        phone = await browser.new_context(viewport={"width": 360, "height": 780}, locale="fr-FR")
        page = await phone.new_page()
        opened = await page.goto(link)
        assert opened is not None
        assert opened.status == 200
        assert await page.get_attribute("html", "lang") == "fr"
        assert "Hangang" in await page.content()
        await page.get_by_role("button", name="Je confirme ma venue").click()
        await page.wait_for_load_state()
        assert "Votre rendez-vous est confirmé" in await page.content()

    confirmed = await _appointment(suite, appointment["id"])
    assert confirmed["status"] == "booked"
    assert confirmed["confirmed_at"] is not None


@needs_chromium
async def test_in_a_browser_a_late_cancel_shows_the_fee_first_then_cancels(suite: Suite) -> None:
    appointment, link = await _reminded(suite, hours_ahead=20, fee=True)  # inside 24 h: late

    async with chromium() as browser:
        phone = await browser.new_context(viewport={"width": 360, "height": 780}, locale="fr-FR")
        page = await phone.new_page()
        await page.goto(link)
        await page.get_by_role("button", name="Annuler ce rendez-vous…").click()
        await page.wait_for_load_state()
        terms = await page.locator("#terms").inner_text()
        assert "annulation tardive" in terms
        assert "40,00" in terms  # the fee, told before anything is cancelled
        assert (await _appointment(suite, appointment["id"]))["status"] == "booked"
        await page.get_by_role("button", name="Oui, annuler mon rendez-vous").click()
        await page.wait_for_load_state()
        done = await page.content()
        assert "Votre rendez-vous est annulé" in done
        assert "40,00" in done

    cancelled = await _appointment(suite, appointment["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_by"] == "client"
    assert cancelled["late"] is True
    assert cancelled["fee_due"] == {"amount": "40.00", "currency": "EUR"}
    assert datetime.fromisoformat(cancelled["start"]) - datetime.now(UTC) < timedelta(hours=24)
