"""The client directory answers core NATS request-reply on `booking.directory.contact`
itself (not a JetStream PubAck), for notify to find a client's address."""

import json
import uuid

import nats
import pytest
from nats.aio.msg import Msg

from tests.booking.integration.support import Booking, ask_directory

pytestmark = pytest.mark.integration

SUBJECT = "booking.directory.contact"


async def test_a_directory_request_gets_the_clients_contact_details(booking: Booking) -> None:
    site = await booking.site(locale="fr", timezone="Europe/Paris")
    client = await booking.client(
        site["id"],
        email="camille@mail.example",
        phone="+33 6 12 34 56 78",
        preferred_channel="messaging",
    )

    answer = await ask_directory(
        booking.nats_url, SUBJECT, json.dumps({"client_id": client["id"]}).encode()
    )

    assert answer == {
        "client_id": client["id"],
        "email": "camille@mail.example",
        "phone": "+33 6 12 34 56 78",
        "locale": "fr",
        "timezone": "Europe/Paris",
        "preferred_channel": "messaging",
        "site_id": site["id"],
    }


async def test_each_directory_answer_is_in_the_audit_trail_with_the_asking_service(
    booking: Booking,
) -> None:
    site = await booking.site()
    client = await booking.client(site["id"])
    # notify's connection: its replies come on its own inbox prefix (enforced on the real bus).
    nc = await nats.connect(booking.nats_url, inbox_prefix="_INBOX.notify")
    try:
        reply = await nc.request(SUBJECT, json.dumps({"client_id": client["id"]}).encode(), 3)
    finally:
        await nc.close()
    assert json.loads(reply.data)["client_id"] == client["id"]

    trail = (await booking.get("/audit", client_id=client["id"])).json()["items"]

    [entry] = [e for e in trail if e["action"] == "directory_contact"]
    assert entry["actor"] == {"kind": "service", "id": "notify"}
    assert (entry["client_id"], entry["site_id"], entry["status"]) == (
        client["id"],
        site["id"],
        200,
    )


async def test_an_unknown_client_is_not_found(booking: Booking) -> None:
    answer = await ask_directory(
        booking.nats_url, SUBJECT, json.dumps({"client_id": str(uuid.uuid4())}).encode()
    )

    assert answer == {"error": "not_found"}


@pytest.mark.parametrize(
    "payload", [b"not json", b"[]", b"{}", b'{"client_id": "nope"}', b'{"client_id": 7}']
)
async def test_a_malformed_request_is_a_bad_request(booking: Booking, payload: bytes) -> None:
    assert await ask_directory(booking.nats_url, SUBJECT, payload) == {"error": "bad_request"}


async def test_replicas_share_requests_through_the_booking_directory_queue_group(
    booking: Booking,
) -> None:
    site = await booking.site()
    client = await booking.client(site["id"])
    nc = await nats.connect(booking.nats_url)
    try:
        # Another replica in the same queue group: each request reaches exactly one of us.
        async def other_replica(msg: Msg) -> None:
            await msg.respond(b'{"replica": true}')

        replica = await nc.subscribe(SUBJECT, queue="booking-directory", cb=other_replica)
        inbox = nc.new_inbox()
        replies = await nc.subscribe(f"{inbox}.*")
        await nc.flush()
        for n in range(20):
            await nc.publish(
                SUBJECT, json.dumps({"client_id": client["id"]}).encode(), reply=f"{inbox}.{n}"
            )
        answers: dict[str, list[dict[str, object]]] = {}
        try:
            while True:
                msg = await replies.next_msg(timeout=0.5)
                answers.setdefault(msg.subject, []).append(json.loads(msg.data))
        except nats.errors.TimeoutError:
            pass
        await replica.unsubscribe()
    finally:
        await nc.close()

    assert len(answers) == 20
    assert all(len(a) == 1 for a in answers.values())  # never answered twice
    from_booking = [a[0] for a in answers.values() if "client_id" in a[0]]
    assert 0 < len(from_booking) < 20
