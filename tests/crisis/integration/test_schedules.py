"""On-call schedules over HTTP, against real PostgreSQL and NATS."""

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import httpx
import pytest
from icalendar import Calendar

from counseling_shared.events import SiteRegistered
from counseling_shared.http.pagination import encode_cursor
from counseling_shared.http.private_pages import PRIVATE_FEED_HEADERS
from counseling_shared.links import LinkSigner
from tests.crisis.integration.harness import Bus, RunningCrisis, eventually
from tests.crisis.integration.steps import register_staff, staff_registered

pytestmark = pytest.mark.integration


async def register_known_staff(
    crisis: RunningCrisis, bus: Bus, site_id: UUID, count: int
) -> list[UUID]:
    """Staff announced on the bus, returned once crisis has taken every one in (a schedule or
    override naming one it has not heard of yet is a 422)."""
    staff = await register_staff(bus, site_id, count)

    async def all_known() -> bool:
        async with crisis.runtime.db().acquire() as conn:
            known = await conn.fetchval(
                "SELECT count(*) FROM staff WHERE staff_id = ANY($1)", staff
            )
        return bool(known == count)

    await eventually(all_known, timeout=10)
    return staff


async def register_site(bus: Bus, timezone: str = "America/New_York") -> UUID:
    site_id = uuid4()
    await bus.publish(
        SiteRegistered(site_id=site_id, name="North", timezone=timezone, locale="en"),
        source="booking",
    )
    return site_id


def weekly_layer(*participants: UUID, start_on: str = "2026-02-02") -> dict[str, Any]:
    return {
        "rotation": {
            "kind": "weekly",
            "handoff": "09:00",
            "handoff_weekday": 1,
            "start_on": start_on,
        },
        "participants": [str(p) for p in participants],
    }


async def post_schedule(
    crisis: RunningCrisis, site_id: UUID, layers: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    """POST, retrying while crisis has not yet heard of the site or its staff."""
    body = {"site_id": str(site_id), "name": "Crisis line", "layers": layers, **extra}

    async def created() -> dict[str, Any] | None:
        answer = await crisis.http.post("/schedules", json=body)
        if answer.status_code == 422:
            return None
        assert answer.status_code == 201, answer.text
        result: dict[str, Any] = answer.json()
        return result

    return await eventually(created, timeout=10)


async def on_call_at(crisis: RunningCrisis, schedule_id: str, at: str) -> list[str]:
    answer = await crisis.http.get(f"/schedules/{schedule_id}/oncall", params={"at": at})
    assert answer.status_code == 200, answer.text
    staff: list[str] = answer.json()["staff_ids"]
    return staff


async def test_a_schedule_in_the_sites_zone_hands_off_at_local_time_across_dst(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = await register_site(bus, "America/New_York")
    a, b = await register_known_staff(crisis, bus, site, 2)
    created = await post_schedule(crisis, site, [weekly_layer(a, b)])
    schedule_id = created["schedule_id"]

    assert created["timezone"] == "America/New_York"
    assert await on_call_at(crisis, schedule_id, "2026-03-02T13:59:00Z") == [str(b)]
    assert await on_call_at(crisis, schedule_id, "2026-03-02T14:00:00Z") == [str(a)]
    assert await on_call_at(crisis, schedule_id, "2026-03-09T12:59:00Z") == [str(a)]
    assert await on_call_at(crisis, schedule_id, "2026-03-09T13:00:00Z") == [str(b)]
    answer = await crisis.http.get(
        f"/schedules/{schedule_id}/shifts",
        params={"from": "2026-03-01T00:00:00Z", "to": "2026-03-15T00:00:00Z"},
    )
    assert answer.status_code == 200, answer.text
    assert [(s["staff_id"], s["start"], s["end"], s["layer"]) for s in answer.json()] == [
        (str(b), "2026-03-01T00:00:00Z", "2026-03-02T14:00:00Z", 1),
        (str(a), "2026-03-02T14:00:00Z", "2026-03-09T13:00:00Z", 1),
        (str(b), "2026-03-09T13:00:00Z", "2026-03-15T00:00:00Z", 1),
    ]


async def test_overrides_replace_someone_and_can_be_removed(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = await register_site(bus)
    a, b, c = await register_known_staff(crisis, bus, site, 3)
    schedule_id = (await post_schedule(crisis, site, [weekly_layer(a, b)]))["schedule_id"]

    answer = await crisis.http.post(
        f"/schedules/{schedule_id}/overrides",
        json={
            "staff_id": str(c),
            "replaces": str(a),
            "start": "2026-03-03T00:00:00Z",
            "end": "2026-03-04T00:00:00Z",
        },
    )
    assert answer.status_code == 201, answer.text
    override_id = answer.json()["override_id"]
    assert await on_call_at(crisis, schedule_id, "2026-03-03T12:00:00Z") == [str(c)]
    shifts = (
        await crisis.http.get(
            f"/schedules/{schedule_id}/shifts",
            params={"from": "2026-03-03T00:00:00Z", "to": "2026-03-04T00:00:00Z"},
        )
    ).json()
    assert [(s["staff_id"], s["override_id"]) for s in shifts] == [(str(c), override_id)]

    removed = await crisis.http.delete(f"/schedules/{schedule_id}/overrides/{override_id}")
    assert removed.status_code == 204
    assert await on_call_at(crisis, schedule_id, "2026-03-03T12:00:00Z") == [str(a)]
    again = await crisis.http.delete(f"/schedules/{schedule_id}/overrides/{override_id}")
    assert again.status_code == 404


async def test_a_put_replaces_the_definition_and_keeps_the_overrides(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = await register_site(bus)
    a, b, c = await register_known_staff(crisis, bus, site, 3)
    created = await post_schedule(crisis, site, [weekly_layer(a)], timezone="Europe/Paris")
    schedule_id = created["schedule_id"]
    await crisis.http.post(
        f"/schedules/{schedule_id}/overrides",
        json={"staff_id": str(c), "start": "2026-03-03T00:00:00Z", "end": "2026-03-04T00:00:00Z"},
    )

    answer = await crisis.http.put(
        f"/schedules/{schedule_id}",
        json={"site_id": str(site), "name": "Nights", "layers": [weekly_layer(b)]},
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["name"], answer.json()["version"]) == ("Nights", 3)
    assert answer.json()["timezone"] == "America/New_York"  # no zone given: the site's
    assert await on_call_at(crisis, schedule_id, "2026-03-03T12:00:00Z") == [str(b), str(c)]


async def test_schedules_and_overrides_answer_their_id_as_id_and_the_old_name_too(
    crisis: RunningCrisis, bus: Bus
) -> None:
    """The contract returns server-made ids as `id`; `schedule_id` / `override_id` stay for
    readers written before (deprecated in the OpenAPI document)."""
    site = await register_site(bus)
    a, b = await register_known_staff(crisis, bus, site, 2)
    created = await post_schedule(crisis, site, [weekly_layer(a)])
    schedule_id = created["id"]
    assert UUID(schedule_id)
    assert created["schedule_id"] == schedule_id

    replaced = await crisis.http.put(
        f"/schedules/{schedule_id}",
        json={"site_id": str(site), "name": "Nights", "layers": [weekly_layer(b)]},
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["id"] == replaced.json()["schedule_id"] == schedule_id

    answer = await crisis.http.post(
        f"/schedules/{schedule_id}/overrides",
        json={"staff_id": str(a), "start": "2026-03-03T00:00:00Z", "end": "2026-03-04T00:00:00Z"},
    )
    assert answer.status_code == 201, answer.text
    override = answer.json()
    assert UUID(override["id"])
    assert override["override_id"] == override["id"]
    read = (await crisis.http.get(f"/schedules/{schedule_id}")).json()
    assert read["id"] == schedule_id
    assert [(o["id"], o["override_id"]) for o in read["overrides"]] == [(override["id"],) * 2]
    removed = await crisis.http.delete(f"/schedules/{schedule_id}/overrides/{override['id']}")
    assert removed.status_code == 204


async def test_bad_schedules_and_queries_are_refused_field_by_field(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = await register_site(bus)
    [a] = await register_known_staff(crisis, bus, site, 1)
    await post_schedule(crisis, site, [weekly_layer(a)])  # crisis knows the site and a by now
    bad = {
        "site_id": str(site),
        "name": "Crisis line",
        "timezone": "Mars/Olympus",
        "layers": [
            {
                "rotation": {"kind": "custom", "handoff": "25:00", "start_on": "2026-03-01"},
                "participants": [str(a), str(uuid4())],
                "restrictions": [{"weekdays": [8], "from": "09:00", "to": "09:00"}],
            }
        ],
    }
    answer = await crisis.http.post("/schedules", json=bad)

    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in answer.json()["errors"]}
    assert fields == {
        "timezone",
        "layers.0.rotation.handoff",
        "layers.0.rotation.every",
        "layers.0.participants",
        "layers.0.restrictions.0.weekdays",
        "layers.0.restrictions.0.to",
    }
    missing = await crisis.http.get(f"/schedules/{uuid4()}/oncall")
    assert missing.status_code == 404


async def test_instants_at_the_edges_of_the_calendar_are_a_422_never_a_500(
    crisis: RunningCrisis, bus: Bus
) -> None:
    """Contract: "A 5xx is always a bug". Year 1 or 9999 (a typo, a client's sentinel) once
    overflowed the layers' local-time arithmetic: a 500 for `oncall`, `shifts` and overrides."""
    site = await register_site(bus)
    [a] = await register_known_staff(crisis, bus, site, 1)
    schedule_id = (await post_schedule(crisis, site, [weekly_layer(a)]))["schedule_id"]
    far = ("0001-01-01T00:00:00Z", "9999-12-31T23:00:00Z", "0001-01-01T00:00:00+14:00")
    for at in far:
        answer = await crisis.http.get(f"/schedules/{schedule_id}/oncall", params={"at": at})
        assert answer.status_code == 422, (at, answer.text)
        assert [e["field"] for e in answer.json()["errors"]] == ["query.at"]
    shifts = await crisis.http.get(
        f"/schedules/{schedule_id}/shifts",
        params={"from": "9999-12-30T00:00:00Z", "to": "9999-12-31T00:00:00Z"},
    )
    assert shifts.status_code == 422, shifts.text
    override = await crisis.http.post(
        f"/schedules/{schedule_id}/overrides",
        json={"staff_id": str(a), "start": "9999-12-31T20:00:00Z", "end": "9999-12-31T23:00:00Z"},
    )
    assert override.status_code == 422, override.text
    early = dict(weekly_layer(a), rotation=dict(weekly_layer(a)["rotation"], start_on="0001-01-01"))
    schedule = await crisis.http.post(
        "/schedules", json={"site_id": str(site), "name": "Old", "layers": [early]}
    )
    assert schedule.status_code == 422, schedule.text
    # The window is wide: any instant a schedule could mean is still answered.
    assert await on_call_at(crisis, schedule_id, "2100-01-01T00:00:00Z") == [str(a)]


async def test_the_calendar_feed_opens_with_its_signed_token_only(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = await register_site(bus)
    a, b = uuid4(), uuid4()
    for staff_id, name in ((a, "Alex Martin"), (b, "Bea Kim")):
        registered = staff_registered(staff_id, site, locale="fr-FR")
        await bus.publish(registered.model_copy(update={"name": name}), source="booking")
    schedule_id = (await post_schedule(crisis, site, [weekly_layer(a, b)]))["schedule_id"]
    other_id = (await post_schedule(crisis, site, [weekly_layer(b)]))["schedule_id"]

    url = (await crisis.http.get(f"/schedules/{schedule_id}/calendar-url")).json()["url"]
    token = parse_qs(urlsplit(url).query)["token"][0]
    anonymous = httpx.AsyncClient(transport=crisis.http._transport, base_url="http://crisis")
    async with anonymous:
        feed = await anonymous.get(
            f"/schedules/{schedule_id}/calendar.ics", params={"token": token}
        )
        assert feed.status_code == 200, feed.text
        assert feed.headers["content-type"].startswith("text/calendar")
        for name, value in PRIVATE_FEED_HEADERS.items():  # the token is in the URL
            assert feed.headers[name] == value
        events = Calendar.from_ical(feed.content).walk("VEVENT")
        # Names, in the language of the people on call (no Accept-Language sent).
        assert {str(e["summary"]) for e in events} == {
            "De garde : Alex Martin",
            "De garde : Bea Kim",
        }
        assert {str(e["description"]) for e in events} == {"couche 1"}
        assert len(events) >= 12  # 90 days of weekly turns
        asked = await anonymous.get(
            f"/schedules/{schedule_id}/calendar.ics",
            params={"token": token},
            headers={"Accept-Language": "ko-KR,ko;q=0.9"},
        )
        summaries = {str(e["summary"]) for e in Calendar.from_ical(asked.content).walk("VEVENT")}
        assert summaries == {"당직: Alex Martin", "당직: Bea Kim"}

        altered = token[:-3] + ("xyz" if not token.endswith("xyz") else "abc")
        tampered = await anonymous.get(
            f"/schedules/{schedule_id}/calendar.ics", params={"token": altered}
        )
        assert tampered.status_code == 403
        elsewhere = await anonymous.get(
            f"/schedules/{other_id}/calendar.ics", params={"token": token}
        )
        assert elsewhere.status_code == 403
        key = crisis.runtime.settings.link_signing_key.get_secret_value()
        expired = LinkSigner(key).sign(
            "crisis-schedule-calendar",
            schedule_id,
            expires_at=datetime.now(UTC) - timedelta(minutes=1),
        )
        gone = await anonymous.get(
            f"/schedules/{schedule_id}/calendar.ics", params={"token": expired}
        )
        assert gone.status_code == 410
        # Another schedule's expired link: a 403 as an altered one, never "it was valid once".
        expired_elsewhere = await anonymous.get(
            f"/schedules/{other_id}/calendar.ics", params={"token": expired}
        )
        assert expired_elsewhere.status_code == 403
        assert expired_elsewhere.json()["type"].endswith("/link-invalid")


async def test_an_override_that_changes_nothing_is_accepted_with_warnings_naming_where(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = await register_site(bus)
    a, b, c = await register_known_staff(crisis, bus, site, 3)
    schedule_id = (await post_schedule(crisis, site, [weekly_layer(a, b)]))["schedule_id"]

    async def override(staff: UUID, replaces: UUID, start: str, end: str) -> dict[str, Any]:
        answer = await crisis.http.post(
            f"/schedules/{schedule_id}/overrides",
            json={"staff_id": str(staff), "replaces": str(replaces), "start": start, "end": end},
        )
        assert answer.status_code == 201, answer.text
        result: dict[str, Any] = answer.json()
        return result

    # a's week (2026-03-02 14:00Z to 03-09 13:00Z) goes to b; then c is asked to replace a on
    # Wednesday, where b already stands in for a.
    week = await override(b, a, "2026-03-02T14:00:00Z", "2026-03-09T13:00:00Z")
    wednesday = await override(c, a, "2026-03-04T05:00:00Z", "2026-03-05T05:00:00Z")

    assert week["warnings"] == []
    assert wednesday["warnings"] == [
        f"2026-03-04T05:00:00Z to 2026-03-05T05:00:00Z: no effect, {b} already stands in for"
        f" {a} (override {week['id']}); to take that shift, replace {b}"
    ]
    assert await on_call_at(crisis, schedule_id, "2026-03-04T17:00:00Z") == [str(b)]
    removed = await crisis.http.delete(f"/schedules/{schedule_id}/overrides/{wednesday['id']}")
    assert removed.status_code == 204
    # What the warning advises takes the shift.
    instead = await override(c, b, "2026-03-04T05:00:00Z", "2026-03-05T05:00:00Z")
    assert instead["warnings"] == []
    assert await on_call_at(crisis, schedule_id, "2026-03-04T17:00:00Z") == [str(c)]


async def test_shifts_come_a_page_at_a_time_like_every_list(
    crisis: RunningCrisis, bus: Bus
) -> None:
    """Contract v2: lists take `limit` (default 50, at most 200) and say when there is more.
    A daily rotation over 61 days has 61 shifts: 50, then the 11 after the cursor."""
    site = await register_site(bus, "UTC")
    a, b = await register_known_staff(crisis, bus, site, 2)
    daily = {
        "rotation": {"kind": "daily", "handoff": "09:00", "start_on": "2026-03-01"},
        "participants": [str(a), str(b)],
    }
    schedule_id = (await post_schedule(crisis, site, [daily]))["schedule_id"]
    window = {"from": "2026-03-01T09:00:00Z", "to": "2026-05-01T09:00:00Z"}
    path = f"/schedules/{schedule_id}/shifts"

    first = await crisis.http.get(path, params=window)
    assert first.status_code == 200, first.text
    assert len(first.json()) == 50
    cursor = first.headers["Next-Cursor"]
    assert 'rel="next"' in first.headers["Link"]
    rest = await crisis.http.get(path, params={**window, "cursor": cursor})
    assert rest.status_code == 200, rest.text
    assert "Next-Cursor" not in rest.headers
    starts = [s["start"] for s in first.json() + rest.json()]
    assert len(starts) == 61
    assert len(set(starts)) == 61
    assert starts == sorted(starts)

    whole = await crisis.http.get(path, params={**window, "limit": 200})
    assert [s["start"] for s in whole.json()] == starts
    assert "Next-Cursor" not in whole.headers
    assert (await crisis.http.get(path, params={**window, "limit": 201})).status_code == 422
    assert (await crisis.http.get(path, params={**window, "cursor": "nonsense"})).status_code == 422


async def test_a_shifts_cursor_with_an_instant_without_its_offset_is_refused(
    crisis: RunningCrisis, bus: Bus
) -> None:
    """A cursor is the caller's to send back: one made by hand with an instant that has no
    offset (`2026-03-20T09:00:00`) is a 422 like any cursor this list did not give out, not a
    500 (shifts are cut from the window in Python, where such an instant cannot be compared)."""
    site = await register_site(bus, "UTC")
    a, b = await register_known_staff(crisis, bus, site, 2)
    daily = {
        "rotation": {"kind": "daily", "handoff": "09:00", "start_on": "2026-03-01"},
        "participants": [str(a), str(b)],
    }
    schedule_id = (await post_schedule(crisis, site, [daily]))["schedule_id"]
    window = {"from": "2026-03-01T09:00:00Z", "to": "2026-04-01T09:00:00Z"}
    naive = encode_cursor((datetime(2026, 3, 20, 9), 0, str(a), ""))

    answer = await crisis.http.get(
        f"/schedules/{schedule_id}/shifts", params={**window, "cursor": naive}
    )

    assert answer.status_code == 422, answer.text
