"""What an `integration` key (an EHR, a website) may not do to people's details in booking:
redirect a staff member's pages, register an on-call member, redirect a client's messages
(and so their signed check-in links), or read a referral. Each failed on the code before."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from counseling_shared.clock import ControllableClock
from counseling_shared.db import connect
from tests.booking.integration.support import ADMIN_KEY, Booking, running_booking
from tests.staff_keys import staff_key_entry

pytestmark = pytest.mark.integration

INTEGRATION_KEY = "key-of-the-scheduling-front-end"
STAFF_KEY = "key-of-a-counselor-of-the-site"
ATTACKER = {"phone": "+1 555 0199", "email": "attacker@example.org"}
REFERRAL = {"to": "Inpatient psychiatric unit, St. X", "contact": "Dr Y, +1 555 0101"}


@dataclass
class Site:
    replica: Booking  # knows the admin key, an integration key and a staff key of the site
    id: str
    on_call: dict[str, Any]  # a crisis_line member
    counselor: dict[str, Any]  # the staff key's own member

    async def call(
        self, method: str, path: str, key: str, body: Any = None, **params: str
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        return await self.replica.http.request(
            method, path, json=body, params=params, headers=headers
        )


@pytest.fixture
async def site(booking: Booking) -> AsyncIterator[Site]:
    created = await booking.site()
    on_call = await booking.counselor(created["id"], role="crisis_line", phone="+82 2 555 0111")
    counselor = await booking.counselor(created["id"])
    keys = ",".join(
        [
            ADMIN_KEY,
            f"{INTEGRATION_KEY};role=integration;sites={created['id']}",
            staff_key_entry(STAFF_KEY, created["id"], counselor["id"]),
        ]
    )
    clock = ControllableClock(booking.clock.now())
    async with running_booking(booking.database_url, booking.nats_url, clock, keys) as replica:
        yield Site(replica, created["id"], on_call, counselor)


async def _event_types(booking: Booking, stream: str) -> list[str]:
    conn = await connect(booking.database_url)
    try:
        rows = await conn.fetch(
            "SELECT type FROM events WHERE stream_id = $1 ORDER BY version", stream
        )
    finally:
        await conn.close()
    return [r["type"] for r in rows]


# --- staff ------------------------------------------------------------------------------


@pytest.mark.parametrize("member", ["on_call", "counselor"])
async def test_an_integration_key_cannot_change_a_staff_members_contact(
    site: Site, member: str
) -> None:
    target = getattr(site, member)

    answer = await site.call("PATCH", f"/staff/{target['id']}", INTEGRATION_KEY, ATTACKER)

    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert (await site.replica.get(f"/staff/{target['id']}")).json() == target
    # Nothing recorded, so no StaffRegistered sends the next page elsewhere.
    assert await _event_types(site.replica, f"staff-{target['id']}") == ["StaffMemberRegistered"]


async def test_people_still_change_staff_contact_details(site: Site) -> None:
    own = await site.call("PATCH", f"/staff/{site.counselor['id']}", STAFF_KEY, {"locale": "en"})
    by_admin = await site.call(
        "PATCH", f"/staff/{site.on_call['id']}", ADMIN_KEY, {"phone": "+82 2 555 0112"}
    )
    colleague = await site.call(
        "PATCH", f"/staff/{site.on_call['id']}", STAFF_KEY, {"phone": "+82 2 555 0113"}
    )

    assert (own.status_code, by_admin.status_code, colleague.status_code) == (200, 200, 403)
    assert by_admin.json()["phone"] == "+82 2 555 0112"


async def test_an_integration_key_registers_counselors_but_not_crisis_line_members(
    site: Site,
) -> None:
    def body(role: str) -> dict[str, Any]:
        return {"site_id": site.id, "name": "N", "role": role, "email": ATTACKER["email"]}

    refused = await site.call("POST", "/staff", INTEGRATION_KEY, body("crisis_line"))
    allowed = {
        role: (await site.call("POST", "/staff", INTEGRATION_KEY, body(role))).status_code
        for role in ("counselor", "supervisor", "site_lead")
    }
    by_staff = await site.call("POST", "/staff", STAFF_KEY, body("crisis_line"))

    assert refused.status_code == 403, refused.text
    assert "crisis_line" in refused.json()["detail"]
    assert allowed == {"counselor": 201, "supervisor": 201, "site_lead": 201}
    assert by_staff.status_code == 201, by_staff.text
    members = await site.replica.get("/staff", site_id=site.id, role="crisis_line")
    # (one instant on the hand clock: the order is the ids')
    assert {m["id"] for m in members.json()} == {site.on_call["id"], by_staff.json()["id"]}


# --- clients ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"email": ATTACKER["email"]},
        {"phone": ATTACKER["phone"], "preferred_channel": "sms"},
        {"email": None, "phone": ATTACKER["phone"], "preferred_channel": "sms"},
        {"name": "Same client", "email": ATTACKER["email"]},
    ],
    ids=["email", "phone", "cleared-email", "with-a-name"],
)
async def test_an_integration_key_cannot_redirect_a_clients_messages(
    site: Site, body: dict[str, Any]
) -> None:
    client = await site.replica.client(site.id, phone="+82 10 1234 5678")

    answer = await site.call("PATCH", f"/clients/{client['id']}", INTEGRATION_KEY, body)

    assert answer.status_code == 403, answer.text
    assert "email or phone" in answer.json()["detail"]
    assert (await site.replica.get(f"/clients/{client['id']}")).json() == client
    assert await _event_types(site.replica, f"client-{client['id']}") == ["ClientRegistered"]
    trail = (await site.replica.get("/audit", client_id=client["id"])).json()["items"]
    refused = [e["status"] for e in trail if e["action"] == "correct_client_contact"]
    assert refused == [403]  # the refusal is in the trail


async def test_an_integration_key_corrects_the_rest_and_may_resend_the_same_addresses(
    site: Site,
) -> None:
    client = await site.replica.client(site.id, phone="+82 10 1234 5678")
    body = {
        "name": "Corrected Name",
        "locale": "en",
        "timezone": "Europe/Paris",
        "preferred_channel": "sms",
        "email": client["email"],  # a sync sends the record whole: unchanged, so accepted
        "phone": client["phone"],
    }

    answer = await site.call("PATCH", f"/clients/{client['id']}", INTEGRATION_KEY, body)

    assert answer.status_code == 200, answer.text
    read = answer.json()
    assert (read["name"], read["locale"], read["timezone"], read["preferred_channel"]) == (
        "Corrected Name",
        "en",
        "Europe/Paris",
        "sms",
    )
    assert (read["email"], read["phone"]) == (client["email"], client["phone"])


async def test_people_change_a_clients_email_and_phone(site: Site) -> None:
    client = await site.replica.client(site.id)

    by_staff = await site.call(
        "PATCH", f"/clients/{client['id']}", STAFF_KEY, {"email": "new@mail.example"}
    )
    by_admin = await site.call(
        "PATCH", f"/clients/{client['id']}", ADMIN_KEY, {"phone": "+82 10 2222 3333"}
    )

    assert (by_staff.status_code, by_admin.status_code) == (200, 200), by_staff.text
    assert (by_admin.json()["email"], by_admin.json()["phone"]) == (
        "new@mail.example",
        "+82 10 2222 3333",
    )


# --- the referral -----------------------------------------------------------------------


async def test_a_referral_is_withheld_from_integration_keys_and_served_to_people(
    site: Site,
) -> None:
    client = await site.replica.client(site.id)
    close = {"reason": "referred", "effective_on": "2030-01-10", "referral": REFERRAL}

    closed = await site.call(
        "POST", f"/clients/{client['id']}/episode/close", INTEGRATION_KEY, close
    )
    one = await site.call("GET", f"/clients/{client['id']}", INTEGRATION_KEY)
    listed = await site.call("GET", "/clients", INTEGRATION_KEY, site_id=site.id)
    for_staff = await site.call("GET", f"/clients/{client['id']}", STAFF_KEY)
    for_admin = await site.call("GET", "/clients", ADMIN_KEY, site_id=site.id)

    assert closed.status_code == 200, closed.text
    assert (closed.json()["referred"], closed.json()["referral"]) == (True, None)
    assert one.json()["episode"]["referred"] is True  # the coded fact is served
    assert one.json()["episode"]["referral"] is None
    episodes = {c["id"]: c["episode"] for c in listed.json()}
    assert episodes[client["id"]]["referral"] is None
    assert all(e["referral"] is None for e in episodes.values())
    assert for_staff.json()["episode"]["referral"] == REFERRAL
    admin_episodes = {c["id"]: c["episode"] for c in for_admin.json()}
    assert admin_episodes[client["id"]]["referral"] == REFERRAL
