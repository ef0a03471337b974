"""`booking.directory.contacts`: several clients in one request (notify's bulk workers), one
entry per id asked in the order asked, and one audit entry per entry, as if each was asked
alone on `booking.directory.contact`."""

import json
import uuid

import pytest

from tests.booking.integration.support import Booking, ask_directory

pytestmark = pytest.mark.integration

SUBJECT = "booking.directory.contacts"


async def test_one_entry_per_client_asked_in_the_order_asked(booking: Booking) -> None:
    site = await booking.site(locale="fr", timezone="Europe/Paris")
    camille = await booking.client(site["id"], email="camille@mail.example", phone=None)
    lou = await booking.client(
        site["id"], email=None, phone="+33 6 12 34 56 78", preferred_channel="sms"
    )
    unknown = str(uuid.uuid4())

    asked = [lou["id"], unknown, camille["id"], lou["id"]]
    answer = await ask_directory(
        booking.nats_url, SUBJECT, json.dumps({"client_ids": asked}).encode()
    )

    contacts = answer["contacts"]
    assert isinstance(contacts, list)
    assert [c["client_id"] for c in contacts] == asked
    assert contacts[1] == {"client_id": unknown, "error": "not_found"}
    assert contacts[0] == contacts[3]
    assert (contacts[0]["phone"], contacts[0]["email"]) == ("+33 6 12 34 56 78", None)
    assert contacts[2] == {
        "client_id": camille["id"],
        "email": "camille@mail.example",
        "phone": None,
        "locale": "fr",
        "timezone": "Europe/Paris",
        "preferred_channel": "email",
        "site_id": site["id"],
    }


async def test_each_entry_is_an_audit_entry_of_the_asking_service(booking: Booking) -> None:
    site = await booking.site()
    client = await booking.client(site["id"])
    other = await booking.client(site["id"])
    unknown = str(uuid.uuid4())

    asked = [client["id"], other["id"], client["id"], unknown]
    payload = json.dumps({"client_ids": asked}).encode()
    await ask_directory(booking.nats_url, SUBJECT, payload, inbox_prefix="_INBOX.notify")

    trail = (await booking.get("/audit", client_id=client["id"])).json()["items"]
    mine = [e for e in trail if e["action"] == "directory_contact"]
    assert len(mine) == 2  # asked twice: two deliveries, two entries
    assert all(e["actor"] == {"kind": "service", "id": "notify"} for e in mine)
    assert all((e["site_id"], e["status"]) == (site["id"], 200) for e in mine)
    trail = (await booking.get("/audit", client_id=other["id"])).json()["items"]
    assert len([e for e in trail if e["action"] == "directory_contact"]) == 1
    trail = (await booking.get("/audit", client_id=unknown)).json()["items"]
    [missing] = [e for e in trail if e["action"] == "directory_contact"]
    assert missing["status"] == 404


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"client_id": "00000000-0000-0000-0000-000000000001"}',
        b'{"client_ids": []}',
        b'{"client_ids": "00000000-0000-0000-0000-000000000001"}',
        b'{"client_ids": [7]}',
        b'{"client_ids": ["nope"]}',
        json.dumps({"client_ids": [str(uuid.uuid4()) for _ in range(101)]}).encode(),
    ],
)
async def test_a_malformed_request_is_a_bad_request(booking: Booking, payload: bytes) -> None:
    assert await ask_directory(booking.nats_url, SUBJECT, payload) == {"error": "bad_request"}
