"""Site closures over HTTP, on real PostgreSQL and NATS: nothing is offered, held or booked on a
closed local day (availability, FHIR Slots, bookings, reschedules, holds, series occurrences,
waitlist offers), except by an admin's audited `allow_closed_site`; the sessions already on
those days are named; the list is published without labels and survives a rebuild."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4
from zoneinfo import ZoneInfo

import httpx
import pytest

from booking.application.rebuild import rebuild_projections
from counseling_shared.clock import ControllableClock
from counseling_shared.db import connect
from tests.booking.integration.support import ADMIN_KEY, Booking, running_booking, site_events
from tests.booking.integration.test_group_waitlist import _published
from tests.staff_keys import staff_key_entry

pytestmark = pytest.mark.integration

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = [{"weekday": d, "from": "09:00", "to": "17:00"} for d in range(1, 6)]
# The service's clock starts on Monday 4 March 2030, 10:00 in Paris.
HOLIDAY = date(2030, 3, 6)  # a Wednesday
TRAINING = (date(2030, 3, 11), date(2030, 3, 12))  # Monday and Tuesday
CLOSURES = [
    {"from": HOLIDAY.isoformat(), "to": HOLIDAY.isoformat(), "kind": "public_holiday"},
    {
        "from": TRAINING[0].isoformat(),
        "to": TRAINING[1].isoformat(),
        "kind": "training",
        "label": "Team training",
    },
]
INTEGRATION_KEY = "key-of-the-website"
COUNSELOR_KEY = "key-of-a-counselor"
LEAD_KEY = "key-of-the-site-lead"


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=PARIS)


@dataclass
class Practice:
    booking: Booking
    site_id: str
    counselor: dict[str, Any]
    client: dict[str, Any]

    async def call(
        self, method: str, path: str, body: Any = None, key: str = ADMIN_KEY, **headers: str
    ) -> httpx.Response:
        return await self.booking.http.request(
            method, path, json=body, headers={"Authorization": f"Bearer {key}", **headers}
        )

    async def close(self, closures: list[dict[str, Any]], key: str = ADMIN_KEY) -> httpx.Response:
        return await self.call(
            "PUT", f"/sites/{self.site_id}/closures", {"closures": closures}, key
        )

    def session(self, start: datetime, **fields: Any) -> dict[str, Any]:
        return {
            "counselor_id": self.counselor["id"],
            "client_id": self.client["id"],
            "start": start.isoformat(),
            "modality": "online",
        } | fields

    async def free_days(self, first: date, days: int) -> set[date]:
        answer = await self.booking.get(
            "/availability",
            site_id=self.site_id,
            counselor_id=self.counselor["id"],
            limit="200",
            **{
                "from": _at(first, 0).isoformat(),
                "to": _at(first + timedelta(days), 0).isoformat(),
            },
        )
        assert answer.status_code == 200, answer.text
        return {datetime.fromisoformat(s["start"]).astimezone(PARIS).date() for s in answer.json()}


async def _practice(booking: Booking) -> Practice:
    site = await booking.site(timezone="Europe/Paris", locale="fr")
    counselor = await booking.counselor(site["id"])
    answer = await booking.http.put(
        f"/staff/{counselor['id']}/working-hours",
        json={"weekly": WEEKDAYS},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert answer.status_code == 200, answer.text
    return Practice(booking, site["id"], counselor, await booking.client(site["id"]))


@pytest.fixture
async def practice(booking: Booking) -> Practice:
    return await _practice(booking)


@pytest.fixture
async def keyed(booking: Booking) -> AsyncIterator[Practice]:
    """A practice served by a replica that also knows an integration key of the site, a
    counselor's staff key and its site lead's staff key."""
    found = await _practice(booking)
    lead = await booking.counselor(found.site_id, role="site_lead")
    keys = ",".join(
        [
            ADMIN_KEY,
            f"{INTEGRATION_KEY};role=integration;sites={found.site_id}",
            staff_key_entry(COUNSELOR_KEY, found.site_id, found.counselor["id"]),
            staff_key_entry(LEAD_KEY, found.site_id, lead["id"]),
        ]
    )
    clock = ControllableClock(booking.clock.now())
    async with running_booking(booking.database_url, booking.nats_url, clock, keys) as replica:
        yield Practice(replica, found.site_id, found.counselor, found.client)


def _site_closed(answer: httpx.Response, day: date, kind: str) -> None:
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"].endswith("/problems/site-closed")
    assert (problem["closed_on"], problem["closure_kind"]) == (day.isoformat(), kind)


async def test_availability_and_fhir_slots_offer_nothing_on_closed_days(
    practice: Practice,
) -> None:
    open_week = {date(2030, 3, d) for d in (5, 6, 7, 8, 11, 12, 13)}
    assert await practice.free_days(date(2030, 3, 5), 9) == open_week

    stored = await practice.close(CLOSURES)

    assert stored.status_code == 200, stored.text
    assert await practice.free_days(date(2030, 3, 5), 9) == open_week - {
        HOLIDAY,
        *TRAINING,
    }
    slots = await practice.call(
        "GET",
        "/fhir/Slot?"
        + "&".join(
            [
                f"schedule=Schedule/{practice.counselor['id']}",
                "start=ge2030-03-05",
                "start=lt2030-03-08",
                "status=free",
                "limit=200",
            ]
        ),
    )
    assert slots.status_code == 200, slots.text
    offered = {
        datetime.fromisoformat(e["resource"]["start"]).astimezone(PARIS).date()
        for e in slots.json().get("entry", [])
    }
    assert offered == {date(2030, 3, 5), date(2030, 3, 7)}


async def test_bookings_reschedules_and_holds_on_a_closed_day_are_refused(
    practice: Practice,
) -> None:
    booked = await practice.call("POST", "/appointments", practice.session(_at(HOLIDAY, 14)))
    assert booked.status_code == 201, booked.text  # not closed yet
    await practice.close(CLOSURES)

    _site_closed(
        await practice.call("POST", "/appointments", practice.session(_at(HOLIDAY, 10))),
        HOLIDAY,
        "public_holiday",
    )
    _site_closed(
        await practice.call(
            "POST",
            f"/appointments/{booked.json()['id']}/reschedule",
            {"start": _at(TRAINING[1], 11).isoformat()},
        ),
        TRAINING[1],
        "training",
    )
    hold = {
        "counselor_id": practice.counselor["id"],
        "start": _at(TRAINING[0], 9).isoformat(),
        "duration_minutes": 50,
        "modality": "online",
    }
    _site_closed(await practice.call("POST", "/holds", hold), TRAINING[0], "training")
    moved = await practice.call(
        "POST",
        f"/appointments/{booked.json()['id']}/reschedule",
        {"start": _at(date(2030, 3, 7), 14).isoformat()},
    )
    assert moved.status_code == 200, moved.text  # an open day is fine


async def test_the_answer_names_sessions_already_on_closed_days_without_cancelling_them(
    practice: Practice,
) -> None:
    on_holiday = await practice.booking.appointment(
        practice.counselor, practice.client, _at(HOLIDAY, 16)
    )
    on_training = await practice.booking.appointment(
        practice.counselor, practice.client, _at(TRAINING[0], 9)
    )
    await practice.booking.appointment(  # an open day: not named
        practice.counselor, practice.client, _at(date(2030, 3, 7), 9)
    )

    answer = await practice.close(CLOSURES)

    assert answer.status_code == 200, answer.text
    assert answer.json()["affected_appointment_ids"] == [on_holiday["id"], on_training["id"]]
    assert [(c["from"], c["to"], c["kind"], c["label"]) for c in answer.json()["closures"]] == [
        ("2030-03-06", "2030-03-06", "public_holiday", None),
        ("2030-03-11", "2030-03-12", "training", "Team training"),
    ]
    still = await practice.booking.get(f"/appointments/{on_holiday['id']}")
    assert still.json()["status"] == "booked"
    cleared = await practice.close([])
    assert cleared.json()["closures"] == []
    assert cleared.json()["affected_appointment_ids"] == []
    assert cleared.json()["version"] == 2


async def test_an_admin_books_a_closed_day_on_purpose_and_the_audit_says_so(
    keyed: Practice,
) -> None:
    await keyed.close(CLOSURES)
    body = keyed.session(_at(HOLIDAY, 11), allow_closed_site=True)

    for key in (INTEGRATION_KEY, COUNSELOR_KEY):
        refused = await keyed.call("POST", "/appointments", body, key)
        assert refused.status_code == 403, refused.text
    request_id = uuid4().hex
    booked = await keyed.call("POST", "/appointments", body, **{"X-Request-ID": request_id})
    assert booked.status_code == 201, booked.text
    opened = await keyed.call(
        "POST",
        "/appointments",
        keyed.session(_at(date(2030, 3, 7), 11), allow_closed_site=True),
        **{"X-Request-ID": "open-day-" + request_id},
    )
    assert opened.status_code == 201, opened.text

    conn = await connect(keyed.booking.database_url)
    try:
        actions = {
            r["request_id"]: (r["action"], r["status"])
            for r in await conn.fetch(
                "SELECT request_id, action, status FROM audit WHERE request_id = ANY($1)",
                [request_id, "open-day-" + request_id],
            )
        }
    finally:
        await conn.close()
    assert actions == {
        request_id: ("book_appointment:allow_closed_site", 201),
        "open-day-" + request_id: ("book_appointment", 201),  # nothing overridden
    }


async def test_a_series_lists_each_closed_occurrence_as_a_conflict(practice: Practice) -> None:
    await practice.close(CLOSURES)
    series = {
        **practice.session(_at(date(2030, 3, 5), 10)),
        "rrule": "FREQ=WEEKLY;COUNT=3;BYDAY=MO,WE",
    }

    refused = await practice.call("POST", "/appointment-series", series)

    assert refused.status_code == 409, refused.text
    conflicts = refused.json()["conflicts"]
    assert [(c["reason"], c["closed_on"], c["closure_kind"]) for c in conflicts] == [
        ("site_closed", "2030-03-06", "public_holiday"),
        ("site_closed", "2030-03-11", "training"),
    ]
    listed = await practice.booking.get("/appointments", site_id=practice.site_id)
    assert listed.json() == []  # all or nothing
    overridden = await practice.call(
        "POST", "/appointment-series", series | {"allow_closed_site": True}
    )
    assert overridden.status_code == 201, overridden.text
    assert len(overridden.json()["appointments"]) == 3


async def test_a_slot_freed_on_a_closed_day_is_offered_to_nobody(practice: Practice) -> None:
    booking = practice.booking
    on_holiday = await booking.appointment(practice.counselor, practice.client, _at(HOLIDAY, 15))
    on_open_day = await booking.appointment(
        practice.counselor, practice.client, _at(date(2030, 3, 7), 15)
    )
    waiting = await booking.created(
        "/waitlist",
        {"client_id": (await booking.client(practice.site_id))["id"], "site_id": practice.site_id},
    )
    await practice.close(CLOSURES)
    cancel = {"reason": "closed", "cancelled_by": "center"}

    answer = await booking.post(f"/appointments/{on_holiday['id']}/cancel", cancel)
    assert answer.status_code == 200, answer.text
    assert (await booking.get(f"/waitlist/{waiting['id']}")).json()["offers"] == []

    answer = await booking.post(f"/appointments/{on_open_day['id']}/cancel", cancel)
    assert answer.status_code == 200, answer.text
    offers = (await booking.get(f"/waitlist/{waiting['id']}")).json()["offers"]
    assert [o["status"] for o in offers] == ["open"]  # an open day's slot still is offered

    # That day closes too while the offer is open: its link books nothing.
    await practice.close([*CLOSURES, {"from": "2030-03-07", "to": "2030-03-07", "kind": "closure"}])
    events = await site_events(booking.nats_url, practice.site_id, 12)
    [made] = [e["data"] for _, e, _ in events if e["type"] == "WaitlistOfferMade"]
    link = urlsplit(made["accept_url"])
    path = f"{link.path}?{link.query}"
    _site_closed(await booking.http.post(path), date(2030, 3, 7), "closure")
    page = await booking.http.post(path, data={"token": parse_qs(link.query)["token"][0]})
    assert page.status_code == 410, page.text
    assert page.headers["content-type"].startswith("text/html")
    offers = (await booking.get(f"/waitlist/{waiting['id']}")).json()["offers"]
    assert [(o["status"], o["appointment_id"]) for o in offers] == [("open", None)]


async def test_who_may_change_the_list_and_what_is_refused(keyed: Practice) -> None:
    for key in (INTEGRATION_KEY, COUNSELOR_KEY):
        refused = await keyed.close(CLOSURES, key)
        assert refused.status_code == 403, refused.text
    assert (await keyed.close(CLOSURES, LEAD_KEY)).status_code == 200

    overlapping = [*CLOSURES, {"from": "2030-03-12", "to": "2030-03-13", "kind": "closure"}]
    invalid = await keyed.close(overlapping)
    assert invalid.status_code == 422, invalid.text
    assert [e["field"] for e in invalid.json()["errors"]] == ["closures[2]"]
    far = [{"from": "2045-01-01", "to": "2045-01-01", "kind": "closure"}]  # > 10 years
    assert (await keyed.close(far)).status_code == 422
    backwards = [{"from": "2030-05-02", "to": "2030-05-01", "kind": "closure"}]
    assert (await keyed.close(backwards)).status_code == 422
    unknown_kind = [{"from": "2030-05-02", "to": "2030-05-02", "kind": "strike"}]
    assert (await keyed.close(unknown_kind)).status_code == 422
    unknown_site = await keyed.call("PUT", f"/sites/{uuid4()}/closures", {"closures": []})
    assert unknown_site.status_code == 404

    listed = await keyed.call(
        "GET", f"/sites/{keyed.site_id}/closures?from=2030-03-07&to=2030-03-31", key=INTEGRATION_KEY
    )
    assert listed.status_code == 200, listed.text
    assert [c["from"] for c in listed.json()["closures"]] == ["2030-03-11"]


async def test_the_list_is_published_without_labels_and_survives_a_rebuild(
    practice: Practice,
) -> None:
    await practice.close(CLOSURES)

    events = await site_events(practice.booking.nats_url, practice.site_id, 4)

    changed = [e["data"] for _, e, _ in events if e["type"] == "SiteClosuresChanged"]
    assert changed == [
        {
            "site_id": practice.site_id,
            "closures": [
                {"from": "2030-03-06", "to": "2030-03-06", "kind": "public_holiday"},
                {"from": "2030-03-11", "to": "2030-03-12", "kind": "training"},
            ],
        }
    ]
    before = (await practice.booking.get(f"/sites/{practice.site_id}/closures")).json()
    conn = await connect(practice.booking.database_url)
    try:
        counts = await rebuild_projections(conn)
    finally:
        await conn.close()
    assert counts["siteclosures"] >= 1
    after = (await practice.booking.get(f"/sites/{practice.site_id}/closures")).json()
    assert after == before
    assert HOLIDAY not in await practice.free_days(date(2030, 3, 5), 3)


async def test_a_group_session_on_a_closed_day_is_refused_and_cannot_be_moved_onto_one(
    practice: Practice,
) -> None:
    group = {
        "counselor_id": practice.counselor["id"],
        "start": _at(HOLIDAY, 10).isoformat(),
        "duration_minutes": 90,
        "modality": "online",
        "capacity": 4,
    }
    await practice.close(CLOSURES)
    _site_closed(await practice.call("POST", "/group-sessions", group), HOLIDAY, "public_holiday")

    open_day = group | {"start": _at(date(2030, 3, 7), 10).isoformat()}
    scheduled = await practice.call("POST", "/group-sessions", open_day)
    assert scheduled.status_code == 201, scheduled.text
    seat = await practice.call(
        "POST",
        f"/group-sessions/{scheduled.json()['id']}/seats",
        {"client_id": practice.client["id"]},
    )
    assert seat.status_code == 201, seat.text
    _site_closed(
        await practice.call(
            "POST",
            f"/group-sessions/{scheduled.json()['id']}/reschedule",
            {"start": _at(TRAINING[0], 10).isoformat()},
        ),
        TRAINING[0],
        "training",
    )
    # Nothing moved: the group and its seat keep the open day.
    kept = await practice.call("GET", f"/group-sessions/{scheduled.json()['id']}")
    assert kept.json()["start"] == scheduled.json()["start"]
    seat_now = await practice.call("GET", f"/appointments/{seat.json()['id']}")
    assert seat_now.json()["start"] == seat.json()["start"]


async def test_an_admin_puts_a_group_on_a_closed_day_on_purpose_and_its_seats_follow_it(
    keyed: Practice,
) -> None:
    await keyed.close(CLOSURES)
    group = {
        "counselor_id": keyed.counselor["id"],
        "start": _at(HOLIDAY, 14).isoformat(),
        "duration_minutes": 90,
        "modality": "online",
        "capacity": 2,
        "allow_closed_site": True,
    }
    for key in (INTEGRATION_KEY, COUNSELOR_KEY, LEAD_KEY):
        refused = await keyed.call("POST", "/group-sessions", group, key)
        assert refused.status_code == 403, refused.text
    request_id = uuid4().hex
    scheduled = await keyed.call("POST", "/group-sessions", group, **{"X-Request-ID": request_id})
    assert scheduled.status_code == 201, scheduled.text
    assert scheduled.json()["on_closed_day"] is True
    group_path = f"/group-sessions/{scheduled.json()['id']}"
    # Its seats follow it onto the closed day, whoever seats the client.
    seat = await keyed.call(
        "POST", f"{group_path}/seats", {"client_id": keyed.client["id"]}, INTEGRATION_KEY
    )
    assert seat.status_code == 201, seat.text
    second = await keyed.booking.client(keyed.site_id)
    await keyed.booking.created(f"{group_path}/seats", {"client_id": second["id"]})
    # Its waitlist is offered a freed seat that day too, and the offer books it.
    waiting = await keyed.booking.client(keyed.site_id)
    entry = await keyed.booking.created(f"{group_path}/waitlist", {"client_id": waiting["id"]})
    cancel = {"reason": "ill", "cancelled_by": "client"}
    await keyed.call("POST", f"/appointments/{seat.json()['id']}/cancel", cancel)
    [offer] = (await keyed.booking.get(f"/waitlist/{entry['id']}")).json()["offers"]
    assert offer["group_session_id"] == scheduled.json()["id"]
    [made] = await _published(keyed.booking, keyed.site_id, "WaitlistOfferMade")
    link = urlsplit(made["accept_url"])
    accepted = await keyed.booking.http.post(f"{link.path}?{link.query}")
    assert accepted.status_code == 201, accepted.text

    # Moved onto the other closed days: only an admin, on purpose.
    onto_training = {"start": _at(TRAINING[0], 14).isoformat()}
    _site_closed(
        await keyed.call("POST", f"{group_path}/reschedule", onto_training), TRAINING[0], "training"
    )
    refused = await keyed.call(
        "POST", f"{group_path}/reschedule", onto_training | {"allow_closed_site": True}, LEAD_KEY
    )
    assert refused.status_code == 403, refused.text
    move_id = uuid4().hex
    moved = await keyed.call(
        "POST",
        f"{group_path}/reschedule",
        onto_training | {"allow_closed_site": True},
        **{"X-Request-ID": move_id},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["on_closed_day"] is True
    # Moved back to an open day: an ordinary group again.
    open_id = uuid4().hex
    back = await keyed.call(
        "POST",
        f"{group_path}/reschedule",
        {"start": _at(date(2030, 3, 7), 14).isoformat(), "allow_closed_site": True},
        **{"X-Request-ID": open_id},
    )
    assert back.status_code == 200, back.text
    assert back.json()["on_closed_day"] is False

    conn = await connect(keyed.booking.database_url)
    try:
        actions = {
            r["request_id"]: (r["action"], r["status"])
            for r in await conn.fetch(
                "SELECT request_id, action, status FROM audit WHERE request_id = ANY($1)",
                [request_id, move_id, open_id],
            )
        }
    finally:
        await conn.close()
    assert actions == {
        request_id: ("schedule_group_session:allow_closed_site", 201),
        move_id: ("reschedule_group_session:allow_closed_site", 200),
        open_id: ("reschedule_group_session", 200),  # nothing overridden
    }
