"""Setting up a counseling center through the public HTTP API only (CONTRACT.md)."""

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from devstack.sinks import ReceivedEmail, ReceivedRequest, Sinks
from tests.e2e.harness import Suite, eventually


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201, 202), response.text
    body: dict[str, Any] = response.json()
    return body


def listed(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    assert isinstance(body, list), body
    return body


def unique_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.org"


def unique_phone() -> str:
    return "+3361" + str(uuid.uuid4().int)[:7]


def is_korean(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


@dataclass
class Center:
    """One site with a counselor and a room, created through booking's API."""

    suite: Suite
    site_id: str
    counselor_id: str
    room_id: str

    @classmethod
    async def open(
        cls, suite: Suite, *, timezone: str = "Asia/Seoul", locale: str = "ko"
    ) -> "Center":
        async with suite.client("booking") as booking:
            site = created(
                await booking.post(
                    "/sites", json={"name": "Hangang", "timezone": timezone, "locale": locale}
                )
            )
            counselor = created(
                await booking.post(
                    "/staff",
                    json={
                        "site_id": site["id"],
                        "name": "Counselor Kim",
                        "role": "counselor",
                        "email": unique_email("counselor"),
                    },
                )
            )
            room = created(await booking.post("/rooms", json={"site_id": site["id"], "name": "R1"}))
        return cls(suite, site["id"], counselor["id"], room["id"])

    async def register_client(self, **fields: Any) -> dict[str, Any]:
        body = {
            "site_id": self.site_id,
            "name": "Client Park",
            "preferred_channel": "email",
            "email": unique_email("client"),
        }
        body.update(fields)
        async with self.suite.client("booking") as booking:
            return created(await booking.post("/clients", json=body))

    async def register_staff(
        self, role: str = "crisis_line", name: str = "On-call"
    ) -> dict[str, Any]:
        async with self.suite.client("booking") as booking:
            return created(
                await booking.post(
                    "/staff",
                    json={
                        "site_id": self.site_id,
                        "name": name,
                        "role": role,
                        "email": unique_email("oncall"),
                        "phone": unique_phone(),
                        "locale": "en",
                    },
                )
            )

    async def add_counselor(self) -> str:
        async with self.suite.client("booking") as booking:
            counselor = created(
                await booking.post(
                    "/staff",
                    json={
                        "site_id": self.site_id,
                        "name": "Counselor Lee",
                        "role": "counselor",
                        "email": unique_email("counselor"),
                    },
                )
            )
        return str(counselor["id"])

    async def book_soon(
        self, client_id: str, *, in_seconds: float = 1.0, counselor_id: str | None = None
    ) -> dict[str, Any]:
        start = datetime.now(UTC) + timedelta(seconds=in_seconds)
        online = counselor_id is not None  # extra counselors see clients online: no room needed
        async with self.suite.client("booking") as booking:
            return created(
                await booking.post(
                    "/appointments",
                    json={
                        "counselor_id": counselor_id or self.counselor_id,
                        "client_id": client_id,
                        "room_id": None if online else self.room_id,
                        "start": start.isoformat(),
                        "duration_minutes": 15,
                        "modality": "online" if online else "in_person",
                    },
                )
            )

    async def hold_session(
        self,
        client_id: str,
        *,
        goal_horizon: str = "short_term",
        risk_level: str = "none",
        counselor_id: str | None = None,
    ) -> dict[str, Any]:
        """Book a session starting in a moment, wait for its start, complete it."""
        appointment = await self.book_soon(client_id, counselor_id=counselor_id)
        start = datetime.fromisoformat(appointment["start"])
        await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.1)
        async with self.suite.client("booking") as booking:
            return created(
                await booking.post(
                    f"/appointments/{appointment['id']}/complete",
                    json={
                        "goal_horizon": goal_horizon,
                        "goals": ["sleep better"],
                        "risk_level": risk_level,
                    },
                )
            )

    async def set_followup_policy(self, **durations: Any) -> dict[str, Any]:
        async with self.suite.client("followup") as followup:
            return created(
                await followup.put(f"/sites/{self.site_id}/followup-policy", json=durations)
            )


def emails_to(sinks: Sinks, address: str) -> list[ReceivedEmail]:
    return [m for m in sinks.smtp.messages if address in m.rcpt_tos]


def texts_to(sinks: Sinks, number: str, channel: str = "sms") -> list[ReceivedRequest]:
    return [r for r in sinks.http.requests(channel) if r.to == number]


async def notifications(suite: Suite, recipient_id: str, template: str) -> list[dict[str, Any]]:
    async with suite.client("notify") as notify:
        rows = listed(await notify.get("/notifications", params={"recipient_id": recipient_id}))
    return [r for r in rows if r["template"] == template]


async def checkin_emails(suite: Suite, client_id: str, address: str) -> list[ReceivedEmail]:
    """Emails to `address` that notify sent for FollowUpDue (Message-ID names the notification)."""
    ids = [n["id"] for n in await notifications(suite, client_id, "followup_due")]
    return [
        m
        for m in emails_to(suite.sinks, address)
        if any(i in str(m.message["Message-ID"]) for i in ids)
    ]


async def followup_texts(
    suite: Suite, client_id: str, number: str, channel: str = "sms"
) -> list[ReceivedRequest]:
    """Texts to `number` that notify sent for FollowUpDue (idempotency key = notification id)."""
    ids = {n["id"] for n in await notifications(suite, client_id, "followup_due")}
    return [r for r in texts_to(suite.sinks, number, channel) if r.idempotency_key in ids]


def distinct_message_ids(emails: list[ReceivedEmail]) -> set[str]:
    return {str(m.message["Message-ID"]) for m in emails}


async def notify_knows(suite: Suite, *staff: dict[str, Any]) -> None:
    """Wait until notify has every staff member's contact (paging needs it): event-driven,
    instead of a fixed sleep that a loaded machine outruns."""

    async def known() -> bool:
        async with suite.client("notify") as notify:
            answers = [await notify.get(f"/recipients/{s['id']}/preferences") for s in staff]
        return all(a.status_code == 200 for a in answers)

    await eventually(known, timeout=20)


REPLY_CODE = re.compile(r"ACK ([0-9A-F]{6})")


async def page_and_code(suite: Suite, center: Center, levels: list[list[str]], phone: str) -> str:
    """Set the site's policy (crisis waits for staff it has not heard of), raise a flag and
    return the code of the page texted to `phone`."""
    client = await center.register_client(preferred_channel="email")
    async with suite.client("crisis") as crisis:
        body = {
            "levels": [{"staff_ids": ids, "ack_timeout": "PT60S"} for ids in levels],
            "repeat": 0,
        }

        async def policy_set() -> bool:
            answer = await crisis.put(f"/sites/{center.site_id}/escalation-policy", json=body)
            return answer.status_code == 200

        await eventually(policy_set, timeout=20)
        before = len(texts_to(suite.sinks, phone))
        created(
            await crisis.post(
                "/risk-flags",
                json={
                    "client_id": client["id"],
                    "site_id": center.site_id,
                    "level": "high",
                    "source": "integration",
                },
            )
        )
    texts = await eventually(lambda: texts_to(suite.sinks, phone)[before:], timeout=20)
    found = REPLY_CODE.search(texts[0].body)
    assert found, texts[0].body
    return found.group(1)
