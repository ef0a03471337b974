"""The client moves their own session from the reminder's link, through the real service: the
site's rule (off by default), the free times by day in the client's language and zone, one
move for a double submit (`AppointmentRescheduled` with a new link, the old one refused),
a time taken meanwhile, and the late window pointing to the front desk."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.booking.integration.support import Booking
from tests.booking.integration.test_manage_link import _count, _events, _form, _relative

pytestmark = pytest.mark.integration

PARIS = ZoneInfo("Europe/Paris")
EVERY_DAY = [{"weekday": d, "from": "09:00", "to": "17:00"} for d in range(1, 8)]
ADMIN = {"Authorization": "Bearer dev-admin-key"}


async def _practice(
    booking: Booking, *, allow: bool = True, days: int = 7
) -> tuple[dict[str, Any], ...]:
    site = await booking.site(name="Centre Rive Gauche", timezone="Europe/Paris", locale="fr")
    counselor = await booking.counselor(site["id"])
    client = await booking.client(site["id"], locale="fr-FR", timezone="Europe/Paris")
    hours = await booking.http.put(
        f"/staff/{counselor['id']}/working-hours", json={"weekly": EVERY_DAY}, headers=ADMIN
    )
    assert hours.status_code == 200, hours.text
    rules = await booking.http.put(
        f"/sites/{site['id']}/booking-rules",
        json={"client_reschedule": allow, "client_reschedule_days": days},
        headers=ADMIN,
    )
    assert rules.status_code == 200, rules.text
    assert rules.json()["client_reschedule"] is allow
    return site, counselor, client


def _at_paris(booking: Booking, days: int, hhmm: str) -> datetime:
    """A slot start of the 09:00 working day cut in 50 minutes, `days` from the clock."""
    day = booking.clock.now().astimezone(PARIS).date() + timedelta(days=days)
    hour, minute = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)


def _choices(page: str) -> list[str]:
    return [html.unescape(v) for v in re.findall(r'name="start" value="([^"]+)"', page)]


async def _open_choices(booking: Booking, link: str) -> tuple[str, dict[str, str], list[str]]:
    page = await booking.http.get(link)
    assert page.status_code == 200, page.text
    assert "Choisir un autre horaire" in page.text
    ask_action, ask_fields = _form(page.text, "get")  # the move button comes first
    assert ask_action.endswith("/manage/reschedule")
    asked = await booking.http.get(ask_action, params=ask_fields)
    assert asked.status_code == 200, asked.text
    assert asked.headers["cache-control"] == "no-store"
    action, fields = _form(asked.text)
    return action, fields, _choices(asked.text)


async def test_the_client_moves_once_and_gets_a_new_link(booking: Booking) -> None:
    site, counselor, client = await _practice(booking)
    booked = await booking.appointment(counselor, client, _at_paris(booking, 3, "10:40"))
    [published] = await _events(booking, site["id"], 1, "AppointmentBooked")
    link = _relative(published["manage_url"])
    page = await booking.http.get(link)
    confirm_action, confirm_fields = _form(page.text)
    assert (await booking.http.post(confirm_action, data=confirm_fields)).status_code == 200

    action, fields, offered = await _open_choices(booking, link)

    starts = [datetime.fromisoformat(s) for s in offered]
    assert booked["start"] not in offered
    assert all(s - booking.clock.now() >= timedelta(hours=24) for s in starts)  # not late
    assert all(s - booking.clock.now() <= timedelta(days=7) for s in starts)
    assert all(s.astimezone(PARIS).hour >= 9 for s in starts)
    chosen = offered[-1]
    moved = await booking.http.post(action, data=fields | {"start": chosen})
    again = await booking.http.post(action, data=fields | {"start": chosen})  # pressed twice

    assert moved.status_code == 200, moved.text
    assert "Votre rendez-vous a été déplacé" in moved.text
    assert again.status_code == 200, again.text
    answer = (await booking.get(f"/appointments/{booked['id']}")).json()
    assert datetime.fromisoformat(answer["start"]) == datetime.fromisoformat(chosen)
    assert answer["confirmed_at"] is None  # the old time was confirmed, not this one
    [rescheduled] = await _events(booking, site["id"], 1, "AppointmentRescheduled")
    assert rescheduled["manage_url"] != published["manage_url"]
    assert datetime.fromisoformat(rescheduled["start"]) == datetime.fromisoformat(chosen)
    assert await _count(booking, site["id"], "AppointmentRescheduled") == 1
    assert (await booking.http.get(link)).status_code == 410  # the old link
    assert (await booking.http.get(_relative(rescheduled["manage_url"]))).status_code == 200
    trail = (await booking.get("/audit", client_id=client["id"])).json()["items"]
    posts = [e for e in trail if e["actor"]["kind"] == "link" and e["status"] == 200]
    assert posts, trail


async def test_a_time_taken_meanwhile_shows_the_list_again_and_moves_nothing(
    booking: Booking,
) -> None:
    site, counselor, client = await _practice(booking)
    booked = await booking.appointment(counselor, client, _at_paris(booking, 3, "10:40"))
    [published] = await _events(booking, site["id"], 1, "AppointmentBooked")
    action, fields, offered = await _open_choices(booking, _relative(published["manage_url"]))
    other = await booking.client(site["id"])
    await booking.appointment(counselor, other, datetime.fromisoformat(offered[0]))

    refused = await booking.http.post(action, data=fields | {"start": offered[0]})
    unchosen = await booking.http.post(action, data=fields)
    garbled = await booking.http.post(action, data=fields | {"start": "tomorrow at ten"})

    assert refused.status_code == 409, refused.text
    assert "vient d\u2019être pris" in html.unescape(refused.text)
    assert offered[0] not in _choices(refused.text)
    for bad in (unchosen, garbled):  # no time, or not one the page sent: the list again
        assert bad.status_code == 422, bad.text
        assert "Veuillez choisir" in bad.text
        assert _choices(bad.text) == _choices(refused.text)
    answer = (await booking.get(f"/appointments/{booked['id']}")).json()
    assert answer["start"] == booked["start"]


async def test_off_by_default_and_refused_inside_the_late_window(booking: Booking) -> None:
    site, counselor, client = await _practice(booking, allow=False)
    await booking.appointment(counselor, client, _at_paris(booking, 3, "10:40"))
    [published] = await _events(booking, site["id"], 1, "AppointmentBooked")
    link = _relative(published["manage_url"])
    off = await booking.http.get(link)
    assert "Choisir un autre horaire" not in off.text
    path, query = link.split("?")
    assert (await booking.http.get(f"{path}/reschedule?{query}")).status_code == 409

    late_site, late_counselor, late_client = await _practice(booking)
    soon = booking.clock.now() + timedelta(hours=3)
    await booking.appointment(late_counselor, late_client, soon)
    [late] = await _events(booking, late_site["id"], 1, "AppointmentBooked")
    late_link = _relative(late["manage_url"])
    page = await booking.http.get(late_link)
    assert "Choisir un autre horaire" not in page.text
    assert "appeler l\u2019accueil" in html.unescape(page.text)
    path, query = late_link.split("?")
    refused = await booking.http.get(f"{path}/reschedule?{query}")
    assert refused.status_code == 409
    assert "<button" not in refused.text


async def test_a_series_occurrence_says_to_call_and_offers_no_times(booking: Booking) -> None:
    site, counselor, client = await _practice(booking)
    series = {
        "counselor_id": counselor["id"],
        "client_id": client["id"],
        "start": _at_paris(booking, 3, "10:40").isoformat(),
        "modality": "online",
        "rrule": "FREQ=WEEKLY;COUNT=2",
    }
    await booking.created("/appointment-series", series)
    [first, _] = await _events(booking, site["id"], 2, "AppointmentBooked")
    link = _relative(first["manage_url"])

    page = await booking.http.get(link)

    assert page.status_code == 200, page.text
    assert "Choisir un autre horaire" not in page.text
    assert "fait partie d\u2019une série" in html.unescape(page.text)
    path, query = link.split("?")
    refused = await booking.http.get(f"{path}/reschedule?{query}")
    assert refused.status_code == 409
    assert 'name="start"' not in refused.text
