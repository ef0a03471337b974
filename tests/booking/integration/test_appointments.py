"""The appointment lifecycle over HTTP: book, read, list, reschedule, cancel, no-show,
complete — with the service's clock moved by hand."""

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.booking.integration.support import Booking

pytestmark = pytest.mark.integration


@pytest.fixture
async def practice(booking: Booking) -> dict[str, Any]:
    site = await booking.site(late_cancellation_window="PT2H")
    return {
        "site": site,
        "counselor": await booking.counselor(site["id"]),
        "client": await booking.client(site["id"]),
        "room": await booking.room(site["id"]),
    }


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_booking_answers_201_with_status_start_end_and_every_field(
    booking: Booking, practice: dict[str, Any]
) -> None:
    body = {
        "counselor_id": practice["counselor"]["id"],
        "client_id": practice["client"]["id"],
        "room_id": practice["room"]["id"],
        "start": "2030-03-10T15:00:00+09:00",
        "modality": "in_person",
    }

    answer = await booking.post("/appointments", body)

    assert answer.status_code == 201, answer.text
    booked = answer.json()
    uuid.UUID(booked["id"])
    assert booked["status"] == "booked"
    assert _instant(booked["start"]) == _instant("2030-03-10T06:00:00+00:00")
    assert _instant(booked["end"]) - _instant(booked["start"]) == timedelta(minutes=50)
    assert booked["duration_minutes"] == 50
    assert booked["site_id"] == practice["site"]["id"]
    assert {k: booked[k] for k in ("counselor_id", "client_id", "room_id", "modality")} == {
        k: body[k] for k in ("counselor_id", "client_id", "room_id", "modality")
    }
    assert (await booking.get(f"/appointments/{booked['id']}")).json() == booked


async def test_a_supervisor_may_hold_sessions_but_crisis_line_staff_may_not(
    booking: Booking, practice: dict[str, Any]
) -> None:
    site_id = practice["site"]["id"]
    supervisor = await booking.counselor(site_id, role="supervisor")
    crisis_line = await booking.counselor(site_id, role="crisis_line")
    client = await booking.client(site_id)

    held = await booking.appointment(supervisor, client, booking.at(hours=6))
    refused = await booking.post(
        "/appointments",
        {
            "counselor_id": crisis_line["id"],
            "client_id": client["id"],
            "start": booking.at(hours=8).isoformat(),
            "modality": "phone",
        },
    )

    assert held["status"] == "booked"
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["counselor_id"]


async def test_booking_with_bad_references_is_422_naming_each_field(
    booking: Booking, practice: dict[str, Any]
) -> None:
    elsewhere = await booking.site()
    far_room = await booking.room(elsewhere["id"])
    far_client = await booking.client(elsewhere["id"])
    base = {
        "counselor_id": practice["counselor"]["id"],
        "client_id": practice["client"]["id"],
        "start": booking.at(hours=9).isoformat(),
        "modality": "in_person",
    }
    cases = {
        "room_id": base,  # in person without a room
        "counselor_id": base | {"counselor_id": str(uuid.uuid4()), "modality": "online"},
        "client_id": base | {"client_id": far_client["id"], "modality": "online"},
    }
    far = base | {"room_id": far_room["id"]}

    for field, body in cases.items():
        answer = await booking.post("/appointments", body)
        assert answer.status_code == 422, (field, answer.text)
        assert [e["field"] for e in answer.json()["errors"]] == [field]
    far_answer = await booking.post("/appointments", far)
    assert [e["field"] for e in far_answer.json()["errors"]] == ["room_id"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("duration_minutes", 10),
        ("duration_minutes", 241),
        ("start", "2030-03-10T15:00:00"),  # no offset
        ("start", "next tuesday"),
        ("modality", "telepathy"),
        ("start", "9999-12-31T23:59:00+00:00"),  # would overflow the end
    ],
)
async def test_booking_with_a_bad_value_is_422(
    booking: Booking, practice: dict[str, Any], field: str, value: Any
) -> None:
    body = {
        "counselor_id": practice["counselor"]["id"],
        "client_id": practice["client"]["id"],
        "start": booking.at(hours=11).isoformat(),
        "modality": "online",
    }

    answer = await booking.post("/appointments", body | {field: value})

    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == [field]


async def test_an_unknown_appointment_is_404_for_every_verb(booking: Booking) -> None:
    missing = uuid.uuid4()
    answers = [
        await booking.get(f"/appointments/{missing}"),
        await booking.post(
            f"/appointments/{missing}/reschedule", {"start": booking.at(1).isoformat()}
        ),
        await booking.post(
            f"/appointments/{missing}/cancel", {"reason": "x", "cancelled_by": "center"}
        ),
        await booking.post(f"/appointments/{missing}/no-show"),
        await booking.post(
            f"/appointments/{missing}/complete", {"goal_horizon": "short_term", "goals": []}
        ),
    ]

    assert [a.status_code for a in answers] == [404] * 5


async def test_appointments_are_listed_by_counselor_client_and_window_in_start_order(
    booking: Booking, practice: dict[str, Any]
) -> None:
    site_id = practice["site"]["id"]
    counselor, other = practice["counselor"], await booking.counselor(site_id)
    client = await booking.client(site_id)
    base = booking.at(hours=200)
    late = await booking.appointment(counselor, client, base + timedelta(hours=3))
    early = await booking.appointment(counselor, client, base)
    elsewhere = await booking.appointment(other, client, base + timedelta(hours=1))

    by_counselor = await booking.get("/appointments", counselor_id=counselor["id"])
    by_client = await booking.get("/appointments", client_id=client["id"])
    in_window = await booking.get(
        "/appointments",
        client_id=client["id"],
        **{
            "from": (base + timedelta(minutes=30)).isoformat(),
            "to": (base + timedelta(hours=2)).isoformat(),
        },
    )

    ids = [early["id"], elsewhere["id"], late["id"]]
    assert [a["id"] for a in by_client.json()] == ids
    assert [a["id"] for a in by_counselor.json() if a["client_id"] == client["id"]] == [
        early["id"],
        late["id"],
    ]
    assert [a["id"] for a in in_window.json()] == [early["id"], elsewhere["id"]]


async def test_rescheduling_moves_the_session_and_keeps_its_length_and_room(
    booking: Booking, practice: dict[str, Any]
) -> None:
    booked = await booking.appointment(
        practice["counselor"],
        practice["client"],
        booking.at(hours=20),
        modality="in_person",
        room_id=practice["room"]["id"],
        duration_minutes=90,
    )
    new_start = booking.at(hours=44)

    moved = await booking.post(
        f"/appointments/{booked['id']}/reschedule", {"start": new_start.isoformat()}
    )

    assert moved.status_code == 200, moved.text
    assert _instant(moved.json()["start"]) == new_start
    assert _instant(moved.json()["end"]) == new_start + timedelta(minutes=90)
    assert moved.json()["room_id"] == practice["room"]["id"]
    assert moved.json()["status"] == "booked"


async def test_cancelling_inside_the_site_window_is_late_and_outside_is_not(
    booking: Booking, practice: dict[str, Any]
) -> None:
    # The practice's site has a two-hour late-cancellation window.
    soon = await booking.appointment(practice["counselor"], practice["client"], booking.at(1))
    later = await booking.appointment(practice["counselor"], practice["client"], booking.at(3))

    late = await booking.post(
        f"/appointments/{soon['id']}/cancel", {"reason": "sick", "cancelled_by": "client"}
    )
    in_time = await booking.post(
        f"/appointments/{later['id']}/cancel", {"reason": "sick", "cancelled_by": "counselor"}
    )

    assert late.status_code == in_time.status_code == 200
    assert (late.json()["status"], late.json()["late"]) == ("cancelled", True)
    assert (in_time.json()["late"], in_time.json()["cancelled_by"]) == (False, "counselor")


async def test_the_default_window_is_24_hours(booking: Booking) -> None:
    site = await booking.site()
    counselor, client = await booking.counselor(site["id"]), await booking.client(site["id"])
    inside = await booking.appointment(counselor, client, booking.at(hours=23))
    outside = await booking.appointment(counselor, client, booking.at(hours=25))

    cancel = {"reason": "r", "cancelled_by": "center"}
    late = await booking.post(f"/appointments/{inside['id']}/cancel", cancel)
    not_late = await booking.post(f"/appointments/{outside['id']}/cancel", cancel)

    assert (late.json()["late"], not_late.json()["late"]) == (True, False)


async def test_only_a_booked_appointment_can_be_cancelled_rescheduled_or_completed(
    booking: Booking, practice: dict[str, Any]
) -> None:
    booked = await booking.appointment(practice["counselor"], practice["client"], booking.at(4))
    path = f"/appointments/{booked['id']}"
    await booking.post(f"{path}/cancel", {"reason": "r", "cancelled_by": "center"})
    booking.clock.advance(timedelta(hours=5))

    answers = [
        await booking.post(f"{path}/cancel", {"reason": "r", "cancelled_by": "center"}),
        await booking.post(f"{path}/reschedule", {"start": booking.at(10).isoformat()}),
        await booking.post(f"{path}/no-show"),
        await booking.post(f"{path}/complete", {"goal_horizon": "short_term", "goals": []}),
    ]

    assert [a.status_code for a in answers] == [409] * 4
    assert all("cancelled" in a.json()["detail"] for a in answers)


async def test_no_show_and_completion_before_the_start_are_409_and_from_it_on_200(
    booking: Booking, practice: dict[str, Any]
) -> None:
    start = booking.at(hours=2)
    missed = await booking.appointment(practice["counselor"], practice["client"], start)
    held = await booking.appointment(
        practice["counselor"], practice["client"], start + timedelta(hours=1)
    )
    session = {"goal_horizon": "long_term", "goals": ["Sleep through the night"]}

    early_no_show = await booking.post(f"/appointments/{missed['id']}/no-show")
    early_completion = await booking.post(f"/appointments/{held['id']}/complete", session)
    booking.clock.set(start)
    no_show = await booking.post(f"/appointments/{missed['id']}/no-show")
    booking.clock.set(start + timedelta(hours=1, minutes=50))
    completed = await booking.post(
        f"/appointments/{held['id']}/complete",
        session | {"next_steps": "Keep a diary", "risk_level": "low"},
    )
    twice = await booking.post(f"/appointments/{held['id']}/complete", session)

    assert (early_no_show.status_code, early_completion.status_code) == (409, 409)
    assert no_show.status_code == 200
    assert no_show.json()["status"] == "no_show"
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "completed"
    assert completed.json()["goals"] == ["Sleep through the night"]
    assert completed.json()["risk_level"] == "low"
    assert completed.json()["risk_flag_id"] is None
    assert twice.status_code == 409


async def test_completion_at_moderate_risk_carries_a_risk_flag(
    booking: Booking, practice: dict[str, Any]
) -> None:
    start = booking.at(hours=1)
    held = await booking.appointment(practice["counselor"], practice["client"], start)
    booking.clock.set(start + timedelta(minutes=55))

    completed = await booking.post(
        f"/appointments/{held['id']}/complete",
        {"goal_horizon": "short_term", "goals": [], "risk_level": "moderate"},
    )

    assert completed.status_code == 200
    uuid.UUID(completed.json()["risk_flag_id"])


async def test_a_completion_with_a_bad_body_is_422(
    booking: Booking, practice: dict[str, Any]
) -> None:
    held = await booking.appointment(practice["counselor"], practice["client"], booking.at(1))

    answer = await booking.post(
        f"/appointments/{held['id']}/complete",
        {"goal_horizon": "someday", "goals": "be happy", "risk_level": "extreme"},
    )

    assert answer.status_code == 422
    assert sorted(e["field"] for e in answer.json()["errors"]) == [
        "goal_horizon",
        "goals",
        "risk_level",
    ]


async def test_the_same_idempotency_key_books_once_and_replays_the_answer(
    booking: Booking, practice: dict[str, Any]
) -> None:
    body = {
        "counselor_id": practice["counselor"]["id"],
        "client_id": practice["client"]["id"],
        "start": booking.at(hours=300).isoformat(),
        "modality": "online",
    }
    headers = {"Authorization": "Bearer dev-admin-key", "Idempotency-Key": str(uuid.uuid4())}

    first = await booking.http.post("/appointments", json=body, headers=headers)
    second = await booking.http.post("/appointments", json=body, headers=headers)

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] == second.json()["id"]


async def test_a_listing_window_without_an_offset_is_422(booking: Booking) -> None:
    answer = await booking.get("/appointments", **{"from": "2030-03-10T15:00:00"})

    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["query.from"]


@pytest.mark.parametrize(
    ("start", "accepted"),
    [
        ({"minutes": -14}, True),  # the counselor enters it as the client sits down
        ({"minutes": -16}, False),  # started a while ago: a mistake
        ({"days": 540}, True),  # within 18 months
        ({"days": 15 * 365}, False),  # 15 years ahead: a typo
    ],
)
async def test_a_session_starts_between_a_short_grace_ago_and_the_sites_horizon(
    booking: Booking, practice: dict[str, Any], start: dict[str, float], accepted: bool
) -> None:
    body = {
        "counselor_id": practice["counselor"]["id"],
        "client_id": practice["client"]["id"],
        "start": booking.at(**start).isoformat(),
        "modality": "online",
    }

    answer = await booking.post("/appointments", body)

    if accepted:
        assert answer.status_code == 201, answer.text
    else:
        assert answer.status_code == 422
        assert [e["field"] for e in answer.json()["errors"]] == ["start"]


async def test_a_site_sets_its_own_booking_horizon(booking: Booking) -> None:
    site = await booking.site(booking_horizon_months=2)
    counselor, client = await booking.counselor(site["id"]), await booking.client(site["id"])
    body = {"counselor_id": counselor["id"], "client_id": client["id"], "modality": "online"}

    soon = await booking.post("/appointments", body | {"start": booking.at(days=50).isoformat()})
    later = await booking.post("/appointments", body | {"start": booking.at(days=70).isoformat()})

    assert site["booking_horizon_months"] == 2
    assert soon.status_code == 201, soon.text
    assert later.status_code == 422
    assert "2 months" in later.json()["errors"][0]["message"]


async def test_rescheduling_beyond_the_horizon_is_422(
    booking: Booking, practice: dict[str, Any]
) -> None:
    booked = await booking.appointment(
        practice["counselor"], practice["client"], booking.at(hours=5)
    )

    moved = await booking.post(
        f"/appointments/{booked['id']}/reschedule", {"start": booking.at(days=600).isoformat()}
    )

    assert moved.status_code == 422
    assert [e["field"] for e in moved.json()["errors"]] == ["start"]


async def test_an_unknown_field_is_422_naming_it(
    booking: Booking, practice: dict[str, Any]
) -> None:
    body = {
        "counselor_id": practice["counselor"]["id"],
        "client_id": practice["client"]["id"],
        "start": booking.at(hours=3).isoformat(),
        "modality": "online",
        "duration": 50,
    }

    answer = await booking.post("/appointments", body)

    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["duration"]
