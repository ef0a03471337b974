"""A staff member's new phone through the whole suite: booking's PATCH /staff/{id} reaches
notify (the next page goes to the new number) and crisis (an SMS reply from the new number
acknowledges, the old one no longer matches). Then a LINK_SIGNING_KEY rotation:
`counselctl staff reannounce` leaves every crisis phone digest under the new key, so the old
key can be dropped with SMS replies still working."""

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.postgres import with_role
from tests.e2e.center import Center, created, notify_knows, page_and_code, texts_to, unique_phone
from tests.e2e.harness import Suite, eventually

pytestmark = pytest.mark.e2e

OLD_KEY = "e2e-old-link-key-" + "o" * 32
NEW_KEY = "e2e-new-link-key-" + "n" * 32
SMS_SECRET = "e2e-inbound-sms-secret"  # noqa: S105 - a test value
# The suite (tests/e2e/conftest.py) with SMS replies configured and a signing key of its own.
SUITE_EXTRA_ENV = {"INBOUND_SMS_SECRET": SMS_SECRET, "LINK_SIGNING_KEY": OLD_KEY}


async def sms_reply(suite: Suite, phone: str, text: str) -> str:
    async with suite.client("crisis") as crisis:
        answer = await crisis.post(
            "/inbound/sms",
            json={"from": phone, "text": text},
            headers={"X-Webhook-Secret": SMS_SECRET},
        )
    assert answer.status_code == 200, answer.text
    reply: str = answer.json()["reply"]
    return reply


async def change_staff(suite: Suite, staff_id: str, body: dict[str, Any]) -> dict[str, Any]:
    async with suite.client("booking") as booking:
        return created(await booking.patch(f"/staff/{staff_id}", json=body))


async def test_a_changed_phone_is_paged_and_recognised_and_the_old_one_no_longer(
    suite: Suite,
) -> None:
    center = await Center.open(suite, timezone="Europe/Paris", locale="en")
    member = await center.register_staff()
    old_phone, new_phone = member["phone"], unique_phone()

    changed = await change_staff(suite, member["id"], {"phone": new_phone})
    assert changed["phone"] == new_phone
    # Registered after the change: once notify and crisis know them (their consumers take
    # booking's events in order), they have the change too.
    marker = await center.register_staff()
    await notify_knows(suite, marker)
    code = await page_and_code(suite, center, [[member["id"]], [marker["id"]]], new_phone)

    assert not texts_to(suite.sinks, old_phone)
    assert "No open page" in await sms_reply(suite, old_phone, f"ACK {code}")
    assert "acknowledged" in await sms_reply(suite, new_phone, f"ACK {code}")


async def test_after_a_key_rotation_reannouncing_staff_lets_the_old_key_go(
    suite: Suite,
) -> None:
    center = await Center.open(suite, timezone="Europe/Paris", locale="en")
    before = [await center.register_staff() for _ in range(2)]
    await notify_knows(suite, *before)

    await restart_crisis(suite, LINK_SIGNING_KEY=NEW_KEY, LINK_SIGNING_PREVIOUS_KEYS=OLD_KEY)
    states = await eventually(lambda: digest_states(suite), timeout=20)
    assert states["previous"] >= 2
    assert states["current"] == 0

    announced = await reannounce(suite)

    assert announced >= 2  # this test's staff and the earlier test's

    async def all_current() -> dict[str, float] | None:
        now = await digest_states(suite)
        return now if now and now["previous"] == now["unknown"] == 0 else None

    assert (await eventually(all_current, timeout=20))["current"] >= 2
    await restart_crisis(suite, LINK_SIGNING_KEY=NEW_KEY, LINK_SIGNING_PREVIOUS_KEYS="")
    first = before[0]
    code = await page_and_code(suite, center, [[first["id"]]], first["phone"])
    assert "acknowledged" in await sms_reply(suite, first["phone"], f"ACK {code}")


async def restart_crisis(suite: Suite, **env: str) -> None:
    process = suite.processes["crisis"]
    process.send_stop()
    await asyncio.to_thread(process.stop)
    process.env.update(env)
    process.start()
    await suite.wait_ready("crisis")


async def digest_states(suite: Suite) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=suite.url("crisis"), timeout=10) as crisis:
        metrics = (await crisis.get("/metrics")).text
    found = {}
    for line in metrics.splitlines():
        if line.startswith("crisis_staff_phone_digests{"):
            labels, value = line.split()
            found[labels.split('"')[1]] = float(value)
    return found


async def reannounce(suite: Suite) -> int:
    """`counselctl staff reannounce --json`, as an operator runs it against booking's database
    (with booking's runtime role: it writes what a request writes)."""
    roles = suite.roles["booking"]
    url = with_role(suite.database_url("booking"), roles.runtime, roles.password)
    counselctl = Path(sys.executable).parent / "counselctl"
    done = await asyncio.create_subprocess_exec(
        str(counselctl),
        "staff",
        "reannounce",
        "--database-url",
        url,
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    out, err = await done.communicate()
    assert done.returncode == 0, err.decode()
    answer: dict[str, Any] = json.loads(out)
    count: int = answer["reannounced"]
    return count
