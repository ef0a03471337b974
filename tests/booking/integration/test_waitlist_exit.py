"""Leaving the waitlist (`POST /waitlist/{id}/withdraw`) and declining an offer (its signed
link's `/decline`, and the offer page's "No, thank you" then "Take me off the waiting list"):
an open offer is released at once and the slot or seat goes to the next client."""

import html
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from booking.application.erasure import erase_client
from booking.entrypoints.web.texts import TEXTS
from counseling_shared.db import connect
from counseling_shared.http.body_limit import MAX_BODY_BYTES
from tests.booking.integration.support import ADMIN_KEY, ELSEWHERE_KEY, Booking, eventually
from tests.booking.integration.test_group_waitlist import (
    _full_group,
    _offers,
    _practice,
    _published,
    _waiting,
)
from tests.booking.integration.test_waitlist import _accept_path

pytestmark = pytest.mark.integration


async def _entry(booking: Booking, entry_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = (await booking.get(f"/waitlist/{entry_id}")).json()
    return answer


async def _two_waiting_then_freed(booking: Booking) -> tuple[dict[str, Any], ...]:
    """Two clients wait at a site (in that order); a slot frees: the first is offered it."""
    site = await booking.site()
    counselor = await booking.counselor(site["id"])
    taken = await booking.appointment(
        counselor, await booking.client(site["id"]), booking.at(hours=30)
    )
    first = await booking.created(
        "/waitlist", {"client_id": (await booking.client(site["id"]))["id"], "site_id": site["id"]}
    )
    booking.clock.advance(timedelta(seconds=1))  # served in order of joining
    second = await booking.created(
        "/waitlist", {"client_id": (await booking.client(site["id"]))["id"], "site_id": site["id"]}
    )
    cancelled = await booking.post(
        f"/appointments/{taken['id']}/cancel", {"reason": "ill", "cancelled_by": "client"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert [o["status"] for o in (await _entry(booking, first["id"]))["offers"]] == ["open"]
    return site, first, second


async def test_withdrawing_an_offered_entry_offers_the_slot_to_the_next_at_once(
    booking: Booking,
) -> None:
    site, first, second = await _two_waiting_then_freed(booking)
    [made] = await _published(booking, site["id"], "WaitlistOfferMade")

    answer = await booking.post(f"/waitlist/{first['id']}/withdraw", {"reason": "booked_elsewhere"})

    assert answer.status_code == 200, answer.text
    withdrawn = answer.json()
    assert (withdrawn["status"], withdrawn["reason"]) == ("withdrawn", "booked_elsewhere")
    assert withdrawn["left_at"] is not None
    assert [o["status"] for o in withdrawn["offers"]] == ["withdrawn"]
    # No clock moved: the next client has the slot now, not after the offer's time to live.
    assert [o["status"] for o in (await _entry(booking, second["id"]))["offers"]] == ["open"]
    [event] = await _published(booking, site["id"], "WaitlistEntryWithdrawn")
    assert event == event | {
        "entry_id": first["id"],
        "client_id": first["client_id"],
        "site_id": site["id"],
        "reason": "booked_elsewhere",
    }
    gone = await booking.http.post(_accept_path(made["accept_url"]))
    assert gone.status_code == 410
    again = await booking.post(f"/waitlist/{first['id']}/withdraw", {"reason": "other"})
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


async def test_a_withdrawal_is_checked_its_reason_coded_and_its_site_kept(
    booking: Booking,
) -> None:
    site = await booking.site()
    entry = await booking.created(
        "/waitlist", {"client_id": (await booking.client(site["id"]))["id"], "site_id": site["id"]}
    )

    free_text = await booking.post(f"/waitlist/{entry['id']}/withdraw", {"reason": "moved to Lyon"})
    assert free_text.status_code == 422
    assert "reason" in free_text.text
    extra = await booking.post(f"/waitlist/{entry['id']}/withdraw", {"note": "x"})
    assert extra.status_code == 422
    elsewhere = await booking.post(f"/waitlist/{entry['id']}/withdraw", key=ELSEWHERE_KEY)
    assert elsewhere.status_code in (403, 404)
    unknown = await booking.post(f"/waitlist/{site['id']}/withdraw")
    assert unknown.status_code == 404
    assert (await _entry(booking, entry["id"]))["status"] == "waiting"

    bare = await booking.post(f"/waitlist/{entry['id']}/withdraw")  # no body: `other`

    assert bare.status_code == 200, bare.text
    assert (bare.json()["status"], bare.json()["reason"]) == ("withdrawn", "other")


async def test_declining_an_offer_gives_the_slot_to_the_next_client_at_once(
    booking: Booking,
) -> None:
    site, first, second = await _two_waiting_then_freed(booking)
    [made] = await _published(booking, site["id"], "WaitlistOfferMade")
    decline = _accept_path(made["accept_url"]).replace("/accept?", "/decline?")

    altered = await booking.http.post(decline.replace("token=", "token=x"))
    assert altered.status_code == 403
    declined = await booking.http.post(decline)

    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "declined"
    assert [o["status"] for o in (await _entry(booking, second["id"]))["offers"]] == ["open"]
    # The decliner stays on the list, only not offered this slot again.
    assert (await _entry(booking, first["id"]))["status"] == "waiting"
    assert (await booking.http.post(decline)).status_code == 410
    assert (await booking.http.post(_accept_path(made["accept_url"]))).status_code == 410
    assert (await booking.http.get(_accept_path(made["accept_url"]))).status_code == 410

    # An accepted offer is not declined afterwards: 409 naming the booking.
    offered = await _published(booking, site["id"], "WaitlistOfferMade", expected=2)
    accept = _accept_path(offered[1]["accept_url"])
    booked = await booking.http.post(accept)
    assert booked.status_code == 201, booked.text
    late = await booking.http.post(accept.replace("/accept?", "/decline?"))
    assert late.status_code == 409
    assert late.json()["appointment_id"] == booked.json()["id"]


def _forms_of(page: str) -> list[tuple[str, dict[str, str]]]:
    """Each form of the page: its action and its hidden token."""
    found = re.findall(
        r'<form method="post" action="([^"]+)">\s*'
        r'<input type="hidden" name="token" value="([^"]+)">',
        page,
    )
    return [(html.unescape(a), {"token": html.unescape(t)}) for a, t in found]


async def test_the_offer_pages_no_thank_you_then_take_me_off_the_list(
    booking: Booking,
) -> None:
    site, first, second = await _two_waiting_then_freed(booking)
    [made] = await _published(booking, site["id"], "WaitlistOfferMade")
    page = await booking.http.get(_accept_path(made["accept_url"]))
    assert page.status_code == 200
    [(accept, form), (decline, _)] = _forms_of(page.text)
    assert accept.endswith("/accept")
    assert decline.endswith("/decline")
    words = TEXTS["ko"]  # the test clients' locale
    assert words["decline"] in page.text

    declined = await booking.http.post(decline, data=form)

    assert declined.status_code == 200, declined.text
    assert declined.headers["content-type"].startswith("text/html")
    assert declined.headers["cache-control"] == "no-store"
    assert words["declined_title"] in declined.text
    [(leave, leave_form)] = _forms_of(declined.text)
    assert leave.endswith("/leave")
    assert [o["status"] for o in (await _entry(booking, second["id"]))["offers"]] == ["open"]
    assert (await booking.http.post(decline, data=form)).status_code == 410

    left = await booking.http.post(leave, data=leave_form)

    assert left.status_code == 200, left.text
    assert words["left_title"] in left.text
    entry = await _entry(booking, first["id"])
    assert (entry["status"], entry["reason"]) == ("withdrawn", "client_request")
    twice = await booking.http.post(leave, data=leave_form)
    assert twice.status_code == 409
    forged = await booking.http.post(leave, data={"token": "x" + leave_form["token"]})
    assert forged.status_code == 403
    [event] = await _published(booking, site["id"], "WaitlistEntryWithdrawn")
    assert (event["entry_id"], event["reason"]) == (first["id"], "client_request")


async def test_a_declined_or_withdrawn_group_seat_goes_to_the_groups_next_client(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group, seats = await _full_group(booking, practice, hours=50)
    first = await _waiting(booking, group, site_id)
    second = await _waiting(booking, group, site_id)
    third = await _waiting(booking, group, site_id)
    await booking.post(
        f"/appointments/{seats[0]['id']}/cancel", {"reason": "ill", "cancelled_by": "client"}
    )
    [made] = await _published(booking, site_id, "WaitlistOfferMade")
    assert made["client_id"] == first["client_id"]

    declined = await booking.http.post(
        _accept_path(made["accept_url"]).replace("/accept?", "/decline?")
    )
    assert declined.status_code == 200, declined.text
    assert [o["status"] for o in await _offers(booking, second)] == ["open"]
    withdrawn = await booking.post(f"/waitlist/{second['id']}/withdraw")
    assert withdrawn.status_code == 200, withdrawn.text

    assert [o["status"] for o in await _offers(booking, third)] == ["open"]
    held = (await booking.get(f"/group-sessions/{group['id']}")).json()
    assert (held["seats_left"], held["seats_held"]) == (0, 1)  # one seat, held once


# --- entries that no longer make sense close by themselves ---------------------------------


async def test_closing_the_care_episode_closes_the_clients_entries_and_passes_their_offer_on(
    booking: Booking,
) -> None:
    site, first, second = await _two_waiting_then_freed(booking)
    [made] = await _published(booking, site["id"], "WaitlistOfferMade")

    closed = await booking.post(
        f"/clients/{first['client_id']}/episode/close",
        {"reason": "moved", "effective_on": "2030-01-01"},
    )

    assert closed.status_code == 200, closed.text
    entry = await _entry(booking, first["id"])
    assert (entry["status"], entry["reason"]) == ("closed", "episode_closed")
    assert [o["status"] for o in entry["offers"]] == ["withdrawn"]
    assert [o["status"] for o in (await _entry(booking, second["id"]))["offers"]] == ["open"]
    assert (await booking.http.post(_accept_path(made["accept_url"]))).status_code == 410
    # A closed entry is not withdrawn afterwards.
    late = await booking.post(f"/waitlist/{first['id']}/withdraw")
    assert late.status_code == 409


async def test_a_cancelled_group_closes_its_waiting_entries(booking: Booking) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group, seats = await _full_group(booking, practice, hours=50)
    offered = await _waiting(booking, group, site_id)
    waiting = await _waiting(booking, group, site_id)
    await booking.post(
        f"/appointments/{seats[0]['id']}/cancel", {"reason": "ill", "cancelled_by": "client"}
    )
    assert [o["status"] for o in await _offers(booking, offered)] == ["open"]

    cancelled = await booking.post(
        f"/group-sessions/{group['id']}/cancel", {"reason": "ill", "cancelled_by": "center"}
    )

    assert cancelled.status_code == 200, cancelled.text
    for entry in (offered, waiting):
        now = await _entry(booking, entry["id"])
        assert (now["status"], now["reason"]) == ("closed", "group_cancelled")
    assert [o["status"] for o in await _offers(booking, offered)] == ["expired"]
    assert await _offers(booking, waiting) == []


async def test_an_erased_client_is_offered_nothing_and_their_offer_passes_on_at_once(
    booking: Booking,
) -> None:
    site, first, second = await _two_waiting_then_freed(booking)
    another_entry = await booking.created(
        "/waitlist", {"client_id": first["client_id"], "site_id": site["id"]}
    )
    conn = await connect(booking.database_url)
    try:
        erased = await erase_client(conn, first["client_id"])
    finally:
        await conn.close()

    assert erased["waitlist_entries"] == 2
    for entry_id in (first["id"], another_entry["id"]):
        entry = await _entry(booking, entry_id)
        assert (entry["status"], entry["reason"]) == ("closed", "client_erased")
    assert [o["status"] for o in (await _entry(booking, first["id"]))["offers"]] == ["withdrawn"]

    # No clock moved: the hold is released now and the service offers the slot on, as on a
    # decline, with its own signed link.
    async def passed_on() -> list[str]:
        return [o["status"] for o in (await _entry(booking, second["id"]))["offers"]]

    assert await eventually(passed_on) == ["open"]
    made = await _published(booking, site["id"], "WaitlistOfferMade", expected=2)
    assert made[-1]["client_id"] == second["client_id"]
    assert "/accept?token=" in made[-1]["accept_url"]


async def test_an_erased_clients_offered_group_seat_passes_on_at_once(booking: Booking) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group, seats = await _full_group(booking, practice, hours=50)
    first = await _waiting(booking, group, site_id)
    second = await _waiting(booking, group, site_id)
    await booking.post(
        f"/appointments/{seats[0]['id']}/cancel", {"reason": "ill", "cancelled_by": "client"}
    )
    assert [o["status"] for o in await _offers(booking, first)] == ["open"]
    conn = await connect(booking.database_url)
    try:
        await erase_client(conn, first["client_id"])
    finally:
        await conn.close()

    async def passed_on() -> list[str]:
        return [o["status"] for o in await _offers(booking, second)]

    assert await eventually(passed_on) == ["open"]
    assert [o["status"] for o in await _offers(booking, first)] == ["withdrawn"]
    held = (await booking.get(f"/group-sessions/{group['id']}")).json()
    assert (held["seats_left"], held["seats_held"]) == (0, 1)  # the one seat, held once


async def _audited(booking: Booking, request_id: str) -> list[tuple[Any, ...]]:
    conn = await connect(booking.database_url)
    try:
        rows = await conn.fetch(
            """SELECT action, status, actor_kind, site_id::text, client_id::text FROM audit
               WHERE request_id = $1 ORDER BY id""",
            request_id,
        )
    finally:
        await conn.close()
    return [tuple(row) for row in rows]


async def test_a_withdrawal_and_a_decline_are_each_one_audit_entry(booking: Booking) -> None:
    site, first, second = await _two_waiting_then_freed(booking)
    [made] = await _published(booking, site["id"], "WaitlistOfferMade")
    declined = await booking.http.post(
        _accept_path(made["accept_url"]).replace("/accept?", "/decline?"),
        headers={"X-Request-ID": "booking-decline-1"},
    )
    assert declined.status_code == 200, declined.text
    withdrawn = await booking.http.post(
        f"/waitlist/{second['id']}/withdraw",
        headers={"Authorization": f"Bearer {ADMIN_KEY}", "X-Request-ID": "booking-withdraw-1"},
    )
    assert withdrawn.status_code == 200, withdrawn.text

    [(action, status, actor, site_id, client_id)] = await _audited(booking, "booking-decline-1")
    assert (status, actor, site_id, client_id) == (200, "link", site["id"], first["client_id"])
    assert "decline" in action
    [(action, status, actor, site_id, client_id)] = await _audited(booking, "booking-withdraw-1")
    assert (status, site_id, client_id) == (200, site["id"], second["client_id"])
    assert "withdraw" in action


async def test_a_decline_form_post_over_the_body_limit_is_a_413_page(booking: Booking) -> None:
    site, first, _second = await _two_waiting_then_freed(booking)
    [made] = await _published(booking, site["id"], "WaitlistOfferMade")
    decline = _accept_path(made["accept_url"]).split("?")[0].replace("/accept", "/decline")
    body = urlencode({"token": "x", "padding": "x" * MAX_BODY_BYTES}).encode()

    answer = await booking.http.post(
        decline,
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept-Language": "fr-FR,fr;q=0.9",
        },
    )

    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("text/html")
    assert '<html lang="fr">' in answer.text
    assert [o["status"] for o in (await _entry(booking, first["id"]))["offers"]] == ["open"]
