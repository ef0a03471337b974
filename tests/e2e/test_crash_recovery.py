"""SIGKILL a service in the middle of each chain and start it again: nothing is lost and nothing
is sent twice. A kill inside the provider call itself may repeat that one delivery, with the same
Message-ID or idempotency key, so receivers can drop it: we count distinct keys."""

import asyncio

import pytest

from devstack.sinks import ReceivedRequest
from tests.e2e.center import (
    Center,
    checkin_emails,
    created,
    followup_texts,
    listed,
    notify_knows,
    texts_to,
    unique_email,
    unique_phone,
)
from tests.e2e.harness import Suite, eventually

pytestmark = pytest.mark.e2e


async def test_booking_killed_right_after_completion_still_leads_to_one_checkin(
    suite: Suite,
) -> None:
    center = await Center.open(suite)
    await center.set_followup_policy(first_checkin_after="PT3S", short_term_every="PT60S")
    address = unique_email("kill-booking")
    client = await center.register_client(email=address)
    await center.hold_session(client["id"])
    suite.kill("booking")  # the outbox row may not be published yet
    await suite.restart("booking")

    await eventually(lambda: checkin_emails(suite, client["id"], address), timeout=20)
    await asyncio.sleep(2)
    assert len(await checkin_emails(suite, client["id"], address)) == 1


async def test_followup_killed_before_a_checkin_is_due_sends_it_once(suite: Suite) -> None:
    center = await Center.open(suite)
    await center.set_followup_policy(first_checkin_after="PT4S", short_term_every="PT60S")
    address = unique_email("kill-followup")
    client = await center.register_client(email=address)
    await center.hold_session(client["id"])

    async def scheduled() -> list[dict[str, object]]:
        async with suite.client("followup") as followup:
            rows = listed(await followup.get("/followups", params={"client_id": client["id"]}))
        return [r for r in rows if r["status"] == "scheduled"]

    await eventually(scheduled, timeout=10)
    suite.kill("followup")
    await asyncio.sleep(1)
    await suite.restart("followup")

    await eventually(lambda: checkin_emails(suite, client["id"], address), timeout=20)
    await asyncio.sleep(2)
    assert len(await checkin_emails(suite, client["id"], address)) == 1


async def test_notify_killed_while_sending_a_batch_delivers_each_notification_once(
    suite: Suite,
) -> None:
    center = await Center.open(suite)
    await center.set_followup_policy(first_checkin_after="PT4S", short_term_every="PT60S")
    phones = [unique_phone() for _ in range(8)]
    clients = [await center.register_client(phone=p, preferred_channel="sms") for p in phones]
    counselors = [await center.add_counselor() for _ in clients]
    await asyncio.gather(
        *(
            center.hold_session(c["id"], counselor_id=counselor)
            for c, counselor in zip(clients, counselors, strict=True)
        )
    )

    async def checkin_texts() -> list[list[ReceivedRequest]]:
        return [
            await followup_texts(suite, c["id"], p) for c, p in zip(clients, phones, strict=True)
        ]

    # A slow provider, so the kill lands while the check-ins are in flight.
    suite.sinks.http.set_delay(0.5)
    try:

        async def first_checkin_sent() -> bool:
            return any(await checkin_texts())

        await eventually(first_checkin_sent, 20, 0.01)
        suite.kill("notify")
    finally:
        suite.sinks.http.set_delay(0)
    await suite.restart("notify")

    async def every_checkin_sent() -> bool:
        return all(await checkin_texts())

    await eventually(every_checkin_sent, timeout=30)
    await asyncio.sleep(2)
    for phone, texts in zip(phones, await checkin_texts(), strict=True):
        keys = {r.idempotency_key for r in texts}
        assert len(keys) == 1, (phone, keys)


async def test_crisis_killed_mid_escalation_pages_the_next_level_once(suite: Suite) -> None:
    center = await Center.open(suite)
    first, second = await center.register_staff(), await center.register_staff()
    client = await center.register_client()
    async with suite.client("crisis") as crisis:
        created(
            await crisis.put(
                f"/sites/{center.site_id}/escalation-policy",
                json={
                    "levels": [
                        {"staff_ids": [first["id"]], "ack_timeout": "PT4S"},
                        {"staff_ids": [second["id"]], "ack_timeout": "PT60S"},
                    ],
                    "repeat": 0,
                },
            )
        )
        await notify_knows(suite, first, second)
        created(
            await crisis.post(
                "/risk-flags",
                json={
                    "client_id": client["id"],
                    "site_id": center.site_id,
                    "level": "imminent",
                    "source": "integration",
                },
            )
        )
    await eventually(lambda: texts_to(suite.sinks, first["phone"]), timeout=5)
    suite.kill("crisis")
    await asyncio.sleep(1)
    await suite.restart("crisis")

    await eventually(lambda: texts_to(suite.sinks, second["phone"]), timeout=15)
    await asyncio.sleep(2)
    assert len({r.idempotency_key for r in texts_to(suite.sinks, second["phone"])}) == 1
    assert len({r.idempotency_key for r in texts_to(suite.sinks, first["phone"])}) == 1
