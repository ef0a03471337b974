"""Steps the crisis integration tests share: staff, policies, flags, alert reads."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID, uuid4

from counseling_shared.codes import StaffRole
from counseling_shared.events import StaffRegistered
from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    crisis_settings,
    eventually,
    running_crisis,
)

# Link signing keys before and after a rotation, and the inbound SMS webhook's secret.
OLD_LINK_KEY = "old-link-key-" + "o" * 32
NEW_LINK_KEY = "new-link-key-" + "n" * 32
INBOUND_SMS_SECRET = "inbound-sms-test-secret"  # noqa: S105 - a test value


async def register_staff(
    bus: Bus, site_id: UUID, count: int, phones: list[str] | None = None
) -> list[UUID]:
    """Staff members joining the site, as booking announces them (with these phones, or one
    number for all)."""
    staff = [uuid4() for _ in range(count)]
    await announce_staff(bus, site_id, staff, phones or ["+15550000000"] * count)
    return staff


async def announce_staff(bus: Bus, site_id: UUID, staff: list[UUID], phones: list[str]) -> None:
    """booking's StaffRegistered for each member (again, for members already known)."""
    for staff_id, phone in zip(staff, phones, strict=True):
        await bus.publish(staff_registered(staff_id, site_id, phone), source="booking")


def staff_registered(
    staff_id: UUID, site_id: UUID, phone: str | None = None, locale: str = "en"
) -> StaffRegistered:
    """booking's announcement of a crisis line member."""
    return StaffRegistered(
        staff_id=staff_id,
        site_id=site_id,
        name="On-call counselor",
        role=StaffRole.CRISIS_LINE,
        email=f"{staff_id.hex[:8]}@center.example",
        phone=phone,
        locale=locale,
    )


async def put_policy(
    crisis: RunningCrisis,
    site_id: UUID,
    levels: list[tuple[list[UUID], str]],
    repeat: int = 1,
    fallback: list[UUID] | None = None,
    ack_expires_after: str | None = None,
) -> dict[str, Any]:
    """PUT the policy, retrying while crisis has not yet seen the staff registrations."""
    body: dict[str, Any] = {
        "levels": [
            {"staff_ids": [str(s) for s in staff], "ack_timeout": timeout}
            for staff, timeout in levels
        ],
        "repeat": repeat,
    }
    if fallback is not None:
        body["fallback_staff_ids"] = [str(s) for s in fallback]
    if ack_expires_after is not None:
        body["ack_expires_after"] = ack_expires_after

    async def accepted() -> dict[str, Any] | None:
        answer = await crisis.http.put(f"/sites/{site_id}/escalation-policy", json=body)
        if answer.status_code == 422:
            return None
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    return await eventually(accepted, timeout=10)


async def flag(
    crisis: RunningCrisis,
    site_id: UUID,
    client_id: UUID,
    level: str = "high",
    source: str = "integration",
) -> dict[str, Any]:
    answer = await crisis.http.post(
        "/risk-flags",
        json={
            "client_id": str(client_id),
            "site_id": str(site_id),
            "level": level,
            "source": source,
        },
    )
    assert answer.status_code == 202, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def alert(crisis: RunningCrisis, alert_id: UUID | str) -> dict[str, Any]:
    answer = await crisis.http.get(f"/alerts/{alert_id}")
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def kinds(view: dict[str, Any]) -> list[str]:
    return [step["kind"] for step in view["timeline"]]


@asynccontextmanager
async def crisis_with_keys(
    database_url: str, nats_url: str, key: str, previous: str = ""
) -> AsyncIterator[RunningCrisis]:
    """crisis signing with `key`, verifying with `previous` too, taking SMS replies."""
    settings = crisis_settings(
        database_url,
        nats_url,
        LINK_SIGNING_KEY=key,
        LINK_SIGNING_PREVIOUS_KEYS=previous,
        INBOUND_SMS_SECRET=INBOUND_SMS_SECRET,
    )
    async with running_crisis(settings) as running:
        yield running


async def sms_reply(crisis: RunningCrisis, phone: str, text: str) -> str:
    """What crisis answers an SMS from `phone` (the provider texts it back)."""
    answer = await crisis.http.post(
        "/inbound/sms",
        json={"from": phone, "text": text},
        headers={"X-Webhook-Secret": INBOUND_SMS_SECRET, "Authorization": ""},
    )
    assert answer.status_code == 200, answer.text
    reply_text: str = answer.json()["reply"]
    return reply_text
