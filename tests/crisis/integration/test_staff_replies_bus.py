"""`crisis.staff_replies`: a staff member's text that notify took in on the center's one
number, asked of a running crisis over NATS as notify asks it (the number's staff-phone
digests under notify's link keys, a coded command). The same handling as `POST /inbound/sms`:
an ACK acknowledges as the member and is audited as them, a match under a previous key is
digested again with the current one, a STOP from no staff phone is `not_staff`."""

import json
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.db import connect
from counseling_shared.staff_replies import read, sender_digests
from crisis.domain.phones import key_fingerprint, phone_digest
from tests.crisis.integration.harness import Bus, RunningCrisis, eventually, pages
from tests.crisis.integration.steps import (
    NEW_LINK_KEY,
    OLD_LINK_KEY,
    alert,
    crisis_with_keys,
    flag,
    put_policy,
    register_staff,
)

pytestmark = pytest.mark.integration

SUBJECT = "crisis.staff_replies"


async def ask(bus: Bus, keys: list[str], phone: str, text: str) -> dict[str, Any]:
    """As notify asks: the digests its keys make of `phone`, and the text read."""
    request = read(text).as_request(sender_digests(keys, phone))
    reply = await bus.nc.request(SUBJECT, json.dumps(request).encode(), timeout=10)
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


async def paged(crisis: RunningCrisis, bus: Bus, site_id: UUID, staff_id: UUID) -> dict[str, Any]:
    await put_policy(crisis, site_id, [([staff_id], "PT60S")], repeat=0)
    alert_id = (await flag(crisis, site_id, uuid4()))["alert_id"]

    async def found() -> dict[str, Any] | None:
        sent = pages(await bus.crisis_events(site_id, "PageRequested"), alert_id)
        return sent[0] if sent else None

    page: dict[str, Any] = await eventually(found, timeout=10)
    return page


async def fetch(database_url: str, query: str, *args: Any) -> list[Any]:
    conn = await connect(database_url)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def test_an_ack_over_the_bus_acknowledges_as_the_member_and_is_audited_as_them(
    database_url: str, nats_url: str
) -> None:
    site_id, phone = uuid4(), "+33 6 81 81 81 81"
    async with (
        crisis_with_keys(database_url, nats_url, NEW_LINK_KEY) as crisis,
        Bus.connect(nats_url) as bus,
    ):
        [staff_id] = await register_staff(bus, site_id, 1, [phone])
        page = await paged(crisis, bus, site_id, staff_id)

        answer = await ask(bus, [NEW_LINK_KEY], "0033681818181", f"ack {page['reply_code']}")

        assert answer["outcome"] == "answered"
        assert answer["reply"].endswith("acknowledged. Escalation has stopped.")
        acknowledged = await alert(crisis, page["alert_id"])
        assert (acknowledged["status"], acknowledged["acknowledged_by"]) == (
            "acknowledged",
            str(staff_id),
        )
        [entry] = await fetch(
            database_url,
            """SELECT actor_kind, actor_id, action, resource, site_id, status FROM audit
               WHERE action = 'inbound_sms' AND actor_id = $1""",
            str(staff_id),
        )
        assert dict(entry) == {
            "actor_kind": "staff",
            "actor_id": str(staff_id),
            "action": "inbound_sms",
            "resource": "inbound",
            "site_id": site_id,
            "status": 200,
        }


async def test_a_match_under_a_previous_key_is_digested_again_and_strangers_are_not_staff(
    database_url: str, nats_url: str
) -> None:
    site_id, phone = uuid4(), "+33 6 82 82 82 82"
    async with Bus.connect(nats_url) as bus:
        async with crisis_with_keys(database_url, nats_url, OLD_LINK_KEY):
            [staff_id] = await register_staff(bus, site_id, 1, [phone])

            async def digested() -> bool:
                rows = await fetch(
                    database_url, "SELECT phone_digest FROM staff WHERE staff_id = $1", staff_id
                )
                return bool(rows) and rows[0]["phone_digest"] == phone_digest(OLD_LINK_KEY, phone)

            await eventually(digested)
        async with crisis_with_keys(database_url, nats_url, NEW_LINK_KEY, previous=OLD_LINK_KEY):
            stopped = await ask(bus, [NEW_LINK_KEY, OLD_LINK_KEY], phone, "STOP")

            assert stopped["outcome"] == "answered"
            assert stopped["reply"].startswith("SMS pages to this phone are stopped")
            [row] = await fetch(
                database_url,
                "SELECT phone_digest, phone_digest_key FROM staff WHERE staff_id = $1",
                staff_id,
            )
            assert tuple(row) == (phone_digest(NEW_LINK_KEY, phone), key_fingerprint(NEW_LINK_KEY))
            changes = await bus.crisis_events(site_id, "StaffSmsOptOutChanged")
            assert [c.data["opted_out"] for c in changes] == [True]

            assert await ask(bus, [NEW_LINK_KEY], "+33 6 83 83 83 83", "STOP") == {
                "outcome": "not_staff"
            }
            # Only digests and coded commands are taken: anything else is refused.
            bad = await bus.nc.request(SUBJECT, b'{"sender": [], "command": "stop"}', timeout=10)
            assert json.loads(bad.data) == {"outcome": "bad_request"}


async def test_an_esc_over_the_bus_escalates_as_the_member_and_is_audited_as_them(
    database_url: str, nats_url: str
) -> None:
    site_id, phone = uuid4(), "+33 6 83 83 83 83"
    async with (
        crisis_with_keys(database_url, nats_url, NEW_LINK_KEY) as crisis,
        Bus.connect(nats_url) as bus,
    ):
        [staff_id] = await register_staff(bus, site_id, 1, [phone])
        page = await paged(crisis, bus, site_id, staff_id)  # one level, no repeat

        answer = await ask(bus, [NEW_LINK_KEY], "0033683838383", f"esc {page['reply_code']}")

        assert answer["outcome"] == "answered"
        assert answer["reply"].startswith(f"Alert {page['alert_id'][:8]} escalated: every level")
        view = await alert(crisis, page["alert_id"])
        assert (view["status"], view["exhausted"]) == ("open", True)
        asked = next(s for s in view["timeline"] if s["kind"] == "escalated_by_staff")
        assert asked["staff_id"] == str(staff_id)
        entries = await fetch(
            database_url,
            """SELECT actor_kind, status FROM audit
               WHERE action = 'inbound_sms' AND actor_id = $1""",
            str(staff_id),
        )
        assert [tuple(e) for e in entries] == [("staff", 200)]
