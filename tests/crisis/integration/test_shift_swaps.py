"""Shift swap requests over HTTP, on real PostgreSQL and NATS: a staff member asks, a colleague
takes it and the schedule shows the taker; first taker wins; cancel; expiry at the start (with
crisis's clock held by the test); who may do what."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from counseling_shared.clock import ControllableClock
from counseling_shared.events import SiteRegistered
from counseling_shared.unit_of_work import unit_of_work
from crisis.application.swaps import take_swap
from crisis.domain.schedules.swaps import TakerOnCall
from tests.crisis.integration.harness import (
    API_KEY,
    Bus,
    RunningCrisis,
    StartCrisis,
    eventually,
)
from tests.crisis.integration.steps import staff_registered
from tests.crisis.integration.test_schedules import on_call_at, post_schedule, weekly_layer

pytestmark = pytest.mark.integration

SITE = uuid4()
A, B, C, OUTSIDER = uuid4(), uuid4(), uuid4(), uuid4()
# Tuesday: A's weekly turn runs from Monday 2026-03-02 14:00Z to Monday 2026-03-09 13:00Z
# (09:00 in New York, on either side of the change to summer time on 2026-03-08).
NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


ADMIN = bearer(API_KEY)
INTEGRATION = bearer("integration-swaps")
STAFF = {staff: bearer(f"staff-{staff.hex[:8]}") for staff in (A, B, C, OUTSIDER)}


@dataclass
class Center:
    crisis: RunningCrisis
    bus: Bus
    clock: ControllableClock
    schedule_id: str


@pytest.fixture(scope="module")
async def center(start_crisis: StartCrisis, nats_url: str) -> AsyncIterator[Center]:
    keys = ",".join(
        [
            API_KEY,
            f"integration-swaps;role=integration;sites={SITE}",
            *(f"staff-{s.hex[:8]};role=staff;sites={SITE};staff={s}" for s in STAFF),
        ]
    )
    clock = ControllableClock(NOW)
    async with Bus.connect(nats_url) as bus, start_crisis(clock, API_KEYS=keys) as crisis:
        site = SiteRegistered(site_id=SITE, name="North", timezone="America/New_York", locale="en")
        await bus.publish(site, source="booking")
        for staff_id in STAFF:
            await bus.publish(staff_registered(staff_id, SITE), source="booking")
        layer = weekly_layer(A, B, C, start_on="2026-03-02")
        created = await post_schedule(crisis, SITE, [layer])
        yield Center(crisis, bus, clock, created["schedule_id"])


async def _ask(center: Center, start: str, end: str, who: UUID = A, **extra: Any) -> httpx.Response:
    return await center.crisis.http.post(
        f"/schedules/{center.schedule_id}/swap-requests",
        json={"start": start, "end": end, **extra},
        headers=STAFF[who],
    )


async def _asked(center: Center, start: str, end: str, **extra: Any) -> dict[str, Any]:
    answer = await _ask(center, start, end, **extra)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _act(center: Center, swap_id: str, action: str, who: UUID) -> httpx.Response:
    return await center.crisis.http.post(f"/swap-requests/{swap_id}/{action}", headers=STAFF[who])


async def _events(center: Center, swap_id: str, count: int) -> list[tuple[str, dict[str, Any]]]:
    async def published() -> list[tuple[str, dict[str, Any]]] | None:
        found = [
            (e.type, e.data)
            for e in await center.bus.crisis_events(SITE)
            if e.type.startswith("ShiftSwap") and e.data["swap_request_id"] == swap_id
        ]
        return found if len(found) >= count else None

    return await eventually(published, timeout=10)


async def test_a_colleague_takes_the_shift_and_the_schedule_shows_them_until_it_is_undone(
    center: Center,
) -> None:
    http = center.crisis.http
    asked = await _asked(center, "2026-03-04T00:00:00Z", "2026-03-05T00:00:00Z")
    swap_id = asked["id"]
    assert (asked["status"], asked["requester_id"]) == ("open", str(A))
    assert sorted(asked["offered_to"]) == sorted([str(B), str(C)])
    assert asked["expires_at"] == asked["start"] == "2026-03-04T00:00:00Z"

    taken = await _act(center, swap_id, "accept", B)
    assert taken.status_code == 200, taken.text
    assert (taken.json()["status"], taken.json()["taken_by"]) == ("taken", str(B))
    override_id = taken.json()["override_id"]
    assert await on_call_at(center.crisis, center.schedule_id, "2026-03-04T12:00:00Z") == [str(B)]
    assert await on_call_at(center.crisis, center.schedule_id, "2026-03-05T12:00:00Z") == [str(A)]
    shifts = await http.get(
        f"/schedules/{center.schedule_id}/shifts",
        params={"from": "2026-03-04T00:00:00Z", "to": "2026-03-05T00:00:00Z"},
    )
    assert [(s["staff_id"], s["override_id"]) for s in shifts.json()] == [(str(B), override_id)]

    second = await _act(center, swap_id, "accept", C)
    assert second.status_code == 409, second.text
    assert (await http.get(f"/swap-requests/{swap_id}")).json()["taken_by"] == str(B)
    events = await _events(center, swap_id, 2)
    assert [t for t, _ in events] == ["ShiftSwapRequested", "ShiftSwapTaken"]
    assert events[1][1]["taken_by"] == str(B)
    assert events[1][1]["override_id"] == override_id

    trail = (await http.get("/audit", params={"actor_id": str(B)}, headers=ADMIN)).json()
    assert [(e["action"], e["status"]) for e in trail["items"] if "swap" in e["action"]] == [
        ("accept_swap_request", 200)
    ]

    removed = await http.delete(f"/schedules/{center.schedule_id}/overrides/{override_id}")
    assert removed.status_code == 204
    assert await on_call_at(center.crisis, center.schedule_id, "2026-03-04T12:00:00Z") == [str(A)]


async def test_two_colleagues_taking_at_once_one_wins_and_the_other_gets_409(
    center: Center,
) -> None:
    swap_id = (await _asked(center, "2026-03-05T00:00:00Z", "2026-03-05T06:00:00Z"))["id"]

    answers = await asyncio.gather(
        _act(center, swap_id, "accept", B), _act(center, swap_id, "accept", C)
    )

    assert sorted(a.status_code for a in answers) == [200, 409]
    [winner] = [a.json()["taken_by"] for a in answers if a.status_code == 200]
    assert await on_call_at(center.crisis, center.schedule_id, "2026-03-05T03:00:00Z") == [winner]


async def test_only_the_staff_offered_may_take_it(center: Center) -> None:
    swap_id = (
        await _asked(center, "2026-03-05T06:00:00Z", "2026-03-05T12:00:00Z", offered_to=[str(B)])
    )["id"]

    assert (await _act(center, swap_id, "accept", C)).status_code == 403
    assert (await _act(center, swap_id, "accept", OUTSIDER)).status_code == 403
    on_behalf = await center.crisis.http.post(
        f"/swap-requests/{swap_id}/accept", json={"staff_id": str(B)}, headers=ADMIN
    )
    assert on_behalf.status_code == 200, on_behalf.text
    assert on_behalf.json()["taken_by"] == str(B)


async def test_the_requester_cancels_an_open_request_and_nobody_can_take_it_then(
    center: Center,
) -> None:
    http = center.crisis.http
    swap_id = (await _asked(center, "2026-03-06T00:00:00Z", "2026-03-06T12:00:00Z"))["id"]

    assert (await _act(center, swap_id, "cancel", B)).status_code == 403  # not the requester
    cancelled = await _act(center, swap_id, "cancel", A)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert (await _act(center, swap_id, "cancel", A)).status_code == 409
    assert (await _act(center, swap_id, "accept", B)).status_code == 409
    listed = await http.get(
        f"/schedules/{center.schedule_id}/swap-requests", params={"status": "cancelled"}
    )
    assert [s["id"] for s in listed.json()] == [swap_id]
    assert [t for t, _ in await _events(center, swap_id, 2)] == [
        "ShiftSwapRequested",
        "ShiftSwapCancelled",
    ]


async def test_who_may_ask_and_for_which_hours(center: Center) -> None:
    http = center.crisis.http
    url = f"/schedules/{center.schedule_id}/swap-requests"
    start, end = "2026-03-07T00:00:00Z", "2026-03-07T06:00:00Z"
    hours = {"start": start, "end": end}

    assert (await http.post(url, json=hours, headers=INTEGRATION)).status_code == 403
    for_other = {**hours, "requester_id": str(B)}
    assert (await http.post(url, json=for_other, headers=STAFF[A])).status_code == 403
    unnamed = await http.post(url, json=hours, headers=ADMIN)
    assert unnamed.status_code == 422
    assert unnamed.json()["errors"][0]["field"] == "requester_id"
    not_theirs = await _ask(center, start, end, who=B)  # A's turn, not B's
    assert not_theirs.status_code == 422
    assert not_theirs.json()["errors"][0]["field"] == "start"
    past_handoff = await _ask(center, "2026-03-08T00:00:00Z", "2026-03-09T13:30:00Z")
    assert past_handoff.status_code == 422  # B is on call from 09:00 New York, 13:00Z
    not_participant = await _ask(center, start, end, offered_to=[str(OUTSIDER)])
    assert not_participant.json()["errors"][0]["field"] == "offered_to"
    assert (
        await http.post(f"/schedules/{uuid4()}/swap-requests", json=for_other)
    ).status_code == 404
    assert (await http.get(f"/swap-requests/{uuid4()}")).status_code == 404

    on_behalf = await http.post(url, json={**hours, "requester_id": str(A)}, headers=ADMIN)
    assert on_behalf.status_code == 201, on_behalf.text
    trail = (await http.get("/audit", params={"actor_id": str(A)}, headers=ADMIN)).json()
    [entry] = [
        e
        for e in trail["items"]
        if e["action"] == "post_swap_request" and e["actor"]["kind"] == "key"
    ]
    assert (entry["on_behalf_of"], entry["status"]) == (str(A), 201)
    assert (await http.get(url, headers=INTEGRATION)).status_code == 200  # reading is allowed


async def test_the_list_is_paged(center: Center) -> None:
    url = f"/schedules/{center.schedule_id}/swap-requests"
    first = await center.crisis.http.get(url, params={"limit": 1})

    assert first.status_code == 200, first.text
    assert len(first.json()) == 1
    following = await center.crisis.http.get(
        url, params={"limit": 1, "cursor": first.headers["Next-Cursor"]}
    )
    assert following.json()[0]["start"] >= first.json()[0]["start"]
    assert following.json()[0]["id"] != first.json()[0]["id"]


async def test_a_colleague_already_on_call_beside_the_requester_cannot_take_it(
    center: Center,
) -> None:
    """B was added beside A for the evening: B taking A's hours would leave B alone where two
    were on call (the schedule would page one person fewer), so the take is a 409."""
    http = center.crisis.http
    beside = await http.post(
        f"/schedules/{center.schedule_id}/overrides",
        json={"staff_id": str(B), "start": "2026-03-08T17:00:00Z", "end": "2026-03-08T21:00:00Z"},
    )
    assert beside.status_code == 201, beside.text
    swap_id = (await _asked(center, "2026-03-08T15:00:00Z", "2026-03-08T19:00:00Z"))["id"]

    refused = await _act(center, swap_id, "accept", B)

    assert refused.status_code == 409, refused.text
    assert "already on call" in refused.json()["detail"]
    assert refused.json()["reason"] == "taker_on_call"
    assert await on_call_at(center.crisis, center.schedule_id, "2026-03-08T18:00:00Z") == [
        str(A),
        str(B),
    ]
    assert (await http.get(f"/swap-requests/{swap_id}")).json()["status"] == "open"
    taken = await _act(center, swap_id, "accept", C)  # C adds cover: allowed
    assert taken.status_code == 200, taken.text
    assert await on_call_at(center.crisis, center.schedule_id, "2026-03-08T18:00:00Z") == [
        str(C),
        str(B),
    ]


async def test_an_open_request_expires_at_its_start_and_the_requester_stays_on_call(
    center: Center,
) -> None:
    """Last in the module: it moves crisis's clock past the others' starts."""
    http = center.crisis.http
    swap_id = (await _asked(center, "2026-03-03T13:00:00Z", "2026-03-03T15:00:00Z"))["id"]

    center.clock.set(datetime(2026, 3, 3, 13, 0, 1, tzinfo=UTC))

    async def expired() -> bool:
        found = await http.get(f"/swap-requests/{swap_id}")
        return bool(found.json()["status"] == "expired")

    await eventually(expired, timeout=10)
    assert (await _act(center, swap_id, "accept", B)).status_code == 409
    assert await on_call_at(center.crisis, center.schedule_id, "2026-03-03T14:00:00Z") == [str(A)]
    assert [t for t, _ in await _events(center, swap_id, 2)] == [
        "ShiftSwapRequested",
        "ShiftSwapExpired",
    ]
    late = await _ask(center, "2026-03-03T12:00:00Z", "2026-03-03T14:00:00Z")
    assert late.status_code == 422  # a shift that has begun is not offered


async def test_a_colleague_on_call_then_on_another_schedule_of_the_policy_cannot_take_it(
    center: Center,
) -> None:
    """The site's escalation policy pages the crisis line, then a backup schedule; C is on the
    backup in the evening. C taking A's evening hours would have the policy page C twice and
    nobody in A's place: a 409 with its coded reason naming the backup. B may take it."""
    http = center.crisis.http
    backup = await post_schedule(center.crisis, SITE, [weekly_layer(OUTSIDER)], name="Backup")
    evening = await http.post(
        f"/schedules/{backup['schedule_id']}/overrides",
        json={"staff_id": str(C), "start": "2026-03-07T12:00:00Z", "end": "2026-03-07T16:00:00Z"},
    )
    assert evening.status_code == 201, evening.text
    levels = [
        {"schedule_ids": [center.schedule_id], "ack_timeout": "PT5M"},
        {"schedule_ids": [backup["schedule_id"]], "ack_timeout": "PT5M"},
    ]
    policy = await http.put(f"/sites/{SITE}/escalation-policy", json={"levels": levels})
    assert policy.status_code == 200, policy.text
    swap_id = (await _asked(center, "2026-03-07T13:00:00Z", "2026-03-07T15:00:00Z"))["id"]

    refused = await _act(center, swap_id, "accept", C)

    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert (problem["reason"], problem["schedule_id"]) == (
        "taker_on_call_in_policy",
        backup["schedule_id"],
    )
    assert (await http.get(f"/swap-requests/{swap_id}")).json()["status"] == "open"
    taken = await _act(center, swap_id, "accept", B)
    assert taken.status_code == 200, taken.text
    assert await on_call_at(center.crisis, center.schedule_id, "2026-03-07T14:00:00Z") == [str(B)]


async def test_a_colleague_named_in_a_level_of_the_policy_cannot_take_it(
    center: Center,
) -> None:
    """The policy pages the crisis line, then C by name (level 2), with B as its fallback. C
    taking A's hours would have the policy page C twice (level 1 and level 2) and nobody in
    A's place: a 409 naming the level, no schedule. B, paged only once the chain is exhausted,
    may take it."""
    http = center.crisis.http
    levels = [
        {"schedule_ids": [center.schedule_id], "ack_timeout": "PT5M"},
        {"staff_ids": [str(C)], "ack_timeout": "PT5M"},
    ]
    policy = await http.put(
        f"/sites/{SITE}/escalation-policy",
        json={"levels": levels, "fallback_staff_ids": [str(B)]},
    )
    assert policy.status_code == 200, policy.text
    swap_id = (await _asked(center, "2026-03-06T13:00:00Z", "2026-03-06T15:00:00Z"))["id"]

    refused = await _act(center, swap_id, "accept", C)

    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert (problem["reason"], problem["level"]) == ("taker_on_call_in_policy", 2)
    assert "schedule_id" not in problem
    assert (await http.get(f"/swap-requests/{swap_id}")).json()["status"] == "open"
    taken = await _act(center, swap_id, "accept", B)
    assert taken.status_code == 200, taken.text
    assert await on_call_at(center.crisis, center.schedule_id, "2026-03-06T14:00:00Z") == [str(B)]


async def test_a_colleague_in_a_round_robin_level_of_the_policy_may_take_it(
    center: Center,
) -> None:
    """The policy pages the crisis line, then one of C and B in turn (a round-robin level).
    The round robin passes over whoever this alert paged already, so C taking A's hours is
    paged once and the level pages B instead: one person fewer is not possible, so C may."""
    http = center.crisis.http
    levels = [
        {"schedule_ids": [center.schedule_id], "ack_timeout": "PT5M"},
        {"staff_ids": [str(C), str(B)], "ack_timeout": "PT5M", "round_robin": True},
    ]
    policy = await http.put(f"/sites/{SITE}/escalation-policy", json={"levels": levels})
    assert policy.status_code == 200, policy.text
    swap_id = (await _asked(center, "2026-03-03T18:00:00Z", "2026-03-03T20:00:00Z"))["id"]

    taken = await _act(center, swap_id, "accept", C)

    assert taken.status_code == 200, taken.text
    assert await on_call_at(center.crisis, center.schedule_id, "2026-03-03T19:00:00Z") == [str(C)]


async def test_one_colleague_taking_two_shifts_of_the_policy_at_once_gets_one(
    center: Center,
) -> None:
    """C takes A's hours on one schedule of the policy and, at the same moment, B's same hours
    on another: the second take must see the first (a 409 `taker_on_call_in_policy`), not
    read the other schedule as it stood before and leave C paged twice with nobody in A's or
    B's place. The first take is held open while the second runs."""
    http = center.crisis.http
    days = await post_schedule(center.crisis, SITE, [weekly_layer(A, C)], name="Days")
    nights = await post_schedule(center.crisis, SITE, [weekly_layer(B, C)], name="Nights")
    levels = [
        {"schedule_ids": [days["schedule_id"]], "ack_timeout": "PT5M"},
        {"schedule_ids": [nights["schedule_id"]], "ack_timeout": "PT5M"},
    ]
    policy = await http.put(f"/sites/{SITE}/escalation-policy", json={"levels": levels})
    assert policy.status_code == 200, policy.text
    hours = {"start": "2026-03-05T13:00:00Z", "end": "2026-03-05T15:00:00Z", "offered_to": [str(C)]}
    swap_ids = []
    for schedule, requester in ((days, A), (nights, B)):
        asked = await http.post(
            f"/schedules/{schedule['schedule_id']}/swap-requests",
            json=hours,
            headers=STAFF[requester],
        )
        assert asked.status_code == 201, asked.text
        swap_ids.append(UUID(asked.json()["id"]))
    runtime = center.crisis.runtime

    async def take(swap_id: UUID) -> None:
        async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
            await take_swap(uow, swap_id, C, uuid4(), require_known_staff=True)

    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        await take_swap(uow, swap_ids[0], C, uuid4(), require_known_staff=True)
        second = asyncio.create_task(take(swap_ids[1]))
        done, _ = await asyncio.wait({second}, timeout=1)
        assert not done, "the second take went through while the first was not committed"

    with pytest.raises(TakerOnCall) as refused:
        await second
    assert refused.value.reason == "taker_on_call_in_policy"
    assert refused.value.schedule_id == UUID(days["schedule_id"])
    assert await on_call_at(center.crisis, days["schedule_id"], "2026-03-05T14:00:00Z") == [str(C)]
    assert await on_call_at(center.crisis, nights["schedule_id"], "2026-03-05T14:00:00Z") == [
        str(B)
    ]
