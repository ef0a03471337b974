"""What booking publishes: catalog events on `booking.<site_id>.<Type>`, in the BOOKING
stream, carrying ids and codes only — never a client's name, contact details or notes."""

import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from counseling_shared.envelope import REGISTRY
from tests.booking.integration.support import Booking, site_events

pytestmark = pytest.mark.integration

NAME = f"Seo-yeon Secret-{uuid.uuid4().hex[:6]}"
EMAIL = f"seoyeon.{uuid.uuid4().hex[:6]}@private.example"
PHONE = "+82 10 9876 5432"
GOAL = "Talk to my sister about the inheritance"
NEXT_STEPS = "Write the letter before next session"
CANCEL_REASON = "My boss found out about therapy"
REFERRAL = "Dr. Lee at Gangnam trauma clinic"
REFERRAL_CONTACT = "+82 2 123 4567"


@pytest.fixture(scope="module")
async def story(booking: Booking) -> dict[str, Any]:
    """One client's path through booking, each step a real HTTP request."""
    site = await booking.site()
    counselor = await booking.counselor(site["id"])
    client = await booking.client(
        site["id"], name=NAME, email=EMAIL, phone=PHONE, preferred_channel="sms"
    )
    first = await booking.appointment(counselor, client, booking.at(hours=30))
    await booking.post(
        f"/appointments/{first['id']}/reschedule", {"start": booking.at(hours=50).isoformat()}
    )
    await booking.post(
        f"/appointments/{first['id']}/cancel",
        {"reason": CANCEL_REASON, "cancelled_by": "client"},
    )
    second = await booking.appointment(counselor, client, booking.at(hours=1))
    booking.clock.advance(timedelta(hours=2))
    completed = await booking.post(
        f"/appointments/{second['id']}/complete",
        {
            "goal_horizon": "short_term",
            "goals": [GOAL],
            "next_steps": NEXT_STEPS,
            "risk_level": "high",
        },
    )
    third = await booking.appointment(counselor, client, booking.at(hours=1))
    booking.clock.advance(timedelta(hours=1))
    await booking.post(f"/appointments/{third['id']}/no-show")
    closed = await booking.post(
        f"/clients/{client['id']}/episode/close",
        {
            "reason": "referred",
            "effective_on": "2030-04-01",
            "referral": {"to": REFERRAL, "contact": REFERRAL_CONTACT},
        },
    )
    assert closed.status_code == 200
    return {
        "site": site,
        "counselor": counselor,
        "client": client,
        "appointments": [first, second, third],
        "completed": completed.json(),
        "events": await site_events(booking.nats_url, site["id"], 12),
    }


async def test_every_change_is_published_in_order_on_its_site_subject(
    story: dict[str, Any],
) -> None:
    site_id = story["site"]["id"]
    expected = [
        "SiteRegistered",
        "StaffRegistered",
        "ClientRegistered",
        "AppointmentBooked",
        "AppointmentRescheduled",
        "AppointmentCancelled",
        "AppointmentBooked",
        "SessionCompleted",
        "RiskFlagged",
        "AppointmentBooked",
        "SessionMissed",
        "CareEpisodeClosed",
    ]

    subjects = [subject for subject, _, _ in story["events"]]

    assert subjects == [f"booking.{site_id}.{name}" for name in expected]
    for _, envelope, _ in story["events"]:
        assert envelope["source"] == "booking"
        assert envelope["siteid"] == site_id
        REGISTRY.parse(REGISTRY.decode(_raw(envelope))[0])  # a valid catalog event


async def test_no_client_name_contact_detail_or_note_is_on_the_bus(
    story: dict[str, Any],
) -> None:
    secrets = [NAME, EMAIL, PHONE, GOAL, NEXT_STEPS, CANCEL_REASON, REFERRAL, REFERRAL_CONTACT]

    for subject, _, raw in story["events"]:
        for secret in secrets:
            assert secret.encode() not in raw, (subject, secret)


async def test_staff_contact_details_do_travel_for_paging(story: dict[str, Any]) -> None:
    counselor = story["counselor"]
    staff = next(e for s, e, _ in story["events"] if s.endswith(".StaffRegistered"))

    assert staff["data"]["staff_id"] == counselor["id"]
    assert staff["data"]["email"] == counselor["email"]
    assert staff["data"]["phone"] == counselor["phone"]
    assert staff["data"]["role"] == "counselor"


async def test_events_carry_the_contract_fields(story: dict[str, Any]) -> None:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for _, envelope, _ in story["events"]:
        by_type.setdefault(envelope["type"], []).append(envelope["data"])
    first, second, third = story["appointments"]
    client_id = story["client"]["id"]

    assert by_type["ClientRegistered"][0] == {
        "client_id": client_id,
        "site_id": story["site"]["id"],
        "locale": "ko",
        "timezone": "Asia/Seoul",
        "preferred_channel": "sms",
    }
    cancelled = by_type["AppointmentCancelled"][0]
    assert cancelled["appointment_id"] == first["id"]
    assert (cancelled["cancelled_by"], cancelled["late"]) == ("client", False)
    assert {"start", "end", "room_id", "modality", "counselor_id"} <= cancelled.keys()
    completed = by_type["SessionCompleted"][0]
    assert completed["appointment_id"] == second["id"]
    assert (completed["goal_horizon"], completed["risk_level"]) == ("short_term", "high")
    flag = by_type["RiskFlagged"][0]
    assert flag["flag_id"] == story["completed"]["risk_flag_id"]
    assert (flag["client_id"], flag["level"], flag["source"]) == (client_id, "high", "booking")
    assert by_type["SessionMissed"][0]["appointment_id"] == third["id"]
    closed = by_type["CareEpisodeClosed"][0]
    assert (closed["reason"], closed["referred"], closed["effective_on"]) == (
        "referred",
        True,
        "2030-04-01",
    )


async def test_the_event_store_holds_each_aggregate_as_a_versioned_stream(
    booking: Booking, story: dict[str, Any]
) -> None:
    first = story["appointments"][0]
    conn = await asyncpg.connect(booking.database_url)
    try:
        stream = await conn.fetch(
            "SELECT version, type FROM events WHERE stream_id = $1 ORDER BY version",
            f"appointment-{first['id']}",
        )
        client_stream = await conn.fetch(
            "SELECT type FROM events WHERE stream_id = $1 ORDER BY version",
            f"client-{story['client']['id']}",
        )
        unpublished = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        stored_goals = await conn.fetchval(
            "SELECT goals FROM appointments WHERE id = $1",
            uuid.UUID(story["appointments"][1]["id"]),
        )
    finally:
        await conn.close()

    assert [(r["version"], r["type"]) for r in stream] == [
        (1, "AppointmentBooked"),
        (2, "AppointmentRescheduled"),
        (3, "AppointmentCancelled"),
    ]
    assert [r["type"] for r in client_stream] == ["ClientRegistered", "CareEpisodeClosed"]
    assert unpublished == 0
    assert GOAL in stored_goals  # goals stay in booking's own database


def _raw(envelope: dict[str, Any]) -> bytes:
    import json

    return json.dumps(envelope).encode()
