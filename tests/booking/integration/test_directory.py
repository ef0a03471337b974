"""The client directory answers core NATS request-reply on `booking.directory.contact`
itself (not a JetStream PubAck), for notify to find a client's address."""

import json
import uuid

import nats
import pytest

from tests.booking.integration.support import Booking

pytestmark = pytest.mark.integration

SUBJECT = "booking.directory.contact"


async def _ask(nats_url: str, payload: bytes) -> dict[str, object]:
    nc = await nats.connect(nats_url)
    try:
        reply = await nc.request(SUBJECT, payload, timeout=3)
    finally:
        await nc.close()
    answer: dict[str, object] = json.loads(reply.data)
    return answer


async def test_a_directory_request_gets_the_clients_contact_details(booking: Booking) -> None:
    site = await booking.site(locale="fr", timezone="Europe/Paris")
    client = await booking.client(
        site["id"],
        email="camille@mail.example",
        phone="+33 6 12 34 56 78",
        preferred_channel="messaging",
    )

    answer = await _ask(booking.nats_url, json.dumps({"client_id": client["id"]}).encode())

    assert answer == {
        "client_id": client["id"],
        "email": "camille@mail.example",
        "phone": "+33 6 12 34 56 78",
        "locale": "fr",
        "timezone": "Europe/Paris",
        "preferred_channel": "messaging",
        "site_id": site["id"],
    }


async def test_an_unknown_client_is_not_found(booking: Booking) -> None:
    answer = await _ask(booking.nats_url, json.dumps({"client_id": str(uuid.uuid4())}).encode())

    assert answer == {"error": "not_found"}


@pytest.mark.parametrize(
    "payload", [b"not json", b"[]", b"{}", b'{"client_id": "nope"}', b'{"client_id": 7}']
)
async def test_a_malformed_request_is_a_bad_request(booking: Booking, payload: bytes) -> None:
    assert await _ask(booking.nats_url, payload) == {"error": "bad_request"}
