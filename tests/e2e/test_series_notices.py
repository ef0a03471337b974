"""A recurring series through the whole suite: booking publishes its occurrences and one
summary; notify sends the client ONE confirmation (not one per occurrence) and, when the series
is cancelled, one notice; followup still plans every occurrence's reminders."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.center import (
    Center,
    created,
    emails_to,
    listed,
    notifications,
    texts_to,
    unique_email,
    unique_phone,
)
from tests.e2e.harness import Suite, eventually

pytestmark = pytest.mark.e2e


async def all_sent(suite: Suite, client_id: str, count: int) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]]:
        async with suite.client("notify") as notify:
            rows = listed(await notify.get("/notifications", params={"recipient_id": client_id}))
        return rows if len(rows) >= count and all(r["status"] == "sent" for r in rows) else []

    rows: list[dict[str, Any]] = await eventually(probe, timeout=30)
    return rows


async def test_a_ten_week_series_is_one_confirmation_and_its_cancellation_one_text(
    suite: Suite,
) -> None:
    center = await Center.open(suite, timezone="Europe/Paris", locale="en")
    address = unique_email("series")
    by_mail = await center.register_client(email=address, preferred_channel="email")
    phone = unique_phone()
    by_sms = await center.register_client(phone=phone, preferred_channel="sms", email=None)
    first = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)

    async with suite.client("booking") as booking:
        series: dict[str, dict[str, Any]] = {}
        for offset, client in enumerate((by_mail, by_sms)):
            series[client["id"]] = created(
                await booking.post(
                    "/appointment-series",
                    json={
                        "counselor_id": center.counselor_id,
                        "client_id": client["id"],
                        "room_id": center.room_id,
                        "start": (first + timedelta(hours=offset)).isoformat(),
                        "modality": "in_person",
                        "rrule": "FREQ=WEEKLY;COUNT=10",
                    },
                )
            )
        sms_series = series[by_sms["id"]]
        cancelled = await booking.post(
            f"/appointment-series/{sms_series['id']}/cancel",
            json={"reason": "moving away", "cancelled_by": "client"},
        )
        assert cancelled.status_code == 200, cancelled.text
        # A single appointment last: once its confirmation is sent, notify has handled every
        # event booking published before it on the same consumer.
        created(
            await booking.post(
                "/appointments",
                json={
                    "counselor_id": center.counselor_id,
                    "client_id": by_mail["id"],
                    "room_id": center.room_id,
                    "start": (first - timedelta(days=1)).isoformat(),
                    "modality": "in_person",
                },
            )
        )
    assert [a["status"] for a in cancelled.json()["appointments"]] == ["cancelled"] * 10

    mail_rows = await all_sent(suite, by_mail["id"], 2)
    assert sorted(r["template"] for r in mail_rows) == [
        "appointment_booked",
        "appointment_series_booked",
    ]
    emails = emails_to(suite.sinks, address)
    assert len(emails) == 2
    [confirmation] = [e for e in emails if "10 appointments" in str(e.message["Subject"])]
    assert "and 5 more" in confirmation.body

    sms_rows = await all_sent(suite, by_sms["id"], 2)
    assert sorted(r["template"] for r in sms_rows) == [
        "appointment_series_booked",
        "appointment_series_cancelled",
    ]
    texts = texts_to(suite.sinks, phone)
    assert len(texts) == 2
    assert await notifications(suite, by_sms["id"], "appointment_booked") == []
    assert await notifications(suite, by_sms["id"], "appointment_cancelled") == []

    async def reminders() -> list[dict[str, Any]]:
        async with suite.client("followup") as followup:
            rows = listed(await followup.get("/followups", params={"client_id": by_mail["id"]}))
        planned = [r for r in rows if r["kind"] == "reminder" and r["session_id"] in occurrences]
        return planned if len(planned) >= 20 else []

    # Per-occurrence reminders are followup's and stay: two before each of the ten sessions.
    occurrences = {a["id"] for a in series[by_mail["id"]]["appointments"]}
    planned = await eventually(reminders, timeout=20)
    assert len(planned) == 20
    assert {r["session_id"] for r in planned} == occurrences
