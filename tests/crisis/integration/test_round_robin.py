"""Round-robin escalation levels against real PostgreSQL and NATS, on a clock the test moves:
each alert of the site pages the next person of the level in turn, alerts opened at the same
moment page different people, someone who cannot be paged is passed over, a missed
acknowledgement escalates to the next level, and a policy change keeps the turn."""

import asyncio
import itertools
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import StaffRole
from counseling_shared.events import StaffRegistered
from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    eventually,
    pages,
)
from tests.crisis.integration.steps import alert, flag, register_staff
from tests.crisis.integration.test_deactivated_staff import deactivate

pytestmark = [pytest.mark.integration, pytest.mark.crisis_on_clock]
MINUTE = timedelta(minutes=1)


def level(staff: list[UUID], timeout: str = "PT5M", round_robin: bool = True) -> dict[str, Any]:
    return {
        "staff_ids": [str(s) for s in staff],
        "ack_timeout": timeout,
        "round_robin": round_robin,
    }


async def put_levels(
    crisis: RunningCrisis, site: UUID, levels: list[dict[str, Any]], repeat: int = 0
) -> dict[str, Any]:
    """PUT the policy, retrying while crisis has not yet seen the staff registrations."""

    async def accepted() -> dict[str, Any] | None:
        answer = await crisis.http.put(
            f"/sites/{site}/escalation-policy", json={"levels": levels, "repeat": repeat}
        )
        if answer.status_code == 422:
            return None
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    return await eventually(accepted, timeout=10)


def paged(view: dict[str, Any]) -> list[tuple[str, int]]:
    return [(p["staff_id"], p["level"]) for p in view["pages"]]


def turns(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in view["timeline"] if step["kind"] == "round_robin_turn"]


async def test_three_alerts_in_a_row_page_three_people_in_turn_and_say_whose_turn(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = uuid4()
    a, b, c = await register_staff(bus, site, 3)
    policy = await put_levels(crisis, site, [level([a, b, c])])
    assert policy["levels"][0]["round_robin"] is True

    views = [await alert(crisis, (await flag(crisis, site, uuid4()))["alert_id"]) for _ in range(4)]

    assert [paged(v) for v in views] == [[(str(a), 1)], [(str(b), 1)], [(str(c), 1)], [(str(a), 1)]]
    chosen = [turns(v)[0] for v in views]
    assert [(t["turn"], t["pool"], t["after_staff_id"]) for t in chosen] == [
        (1, 3, None),
        (2, 3, str(a)),
        (3, 3, str(b)),
        (4, 3, str(c)),
    ]

    async def all_published() -> list[dict[str, Any]] | None:
        found = pages(await bus.crisis_events(site, "PageRequested"))
        return found if len(found) == 4 else None

    published = await eventually(all_published, timeout=10)
    assert [p["staff_id"] for p in published] == [str(a), str(b), str(c), str(a)]


async def test_alerts_opened_at_the_same_moment_never_page_the_same_person_twice_in_a_row(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = uuid4()
    people = await register_staff(bus, site, 3)
    await put_levels(crisis, site, [level(people)])

    accepted = await asyncio.gather(*(flag(crisis, site, uuid4()) for _ in range(9)))

    views = [await alert(crisis, a["alert_id"]) for a in accepted]
    by_turn = sorted((turns(v)[0]["turn"], paged(v)) for v in views)
    assert [t for t, _ in by_turn] == list(range(1, 10))  # nine turns, none given twice
    in_turn = [p[0][0] for _, p in by_turn]
    assert all(len(p) == 1 for _, p in by_turn)
    assert all(x != y for x, y in itertools.pairwise(in_turn))
    assert sorted(in_turn) == sorted([str(p) for p in people] * 3)


async def test_a_missed_acknowledgement_escalates_to_the_next_level(
    crisis: RunningCrisis, bus: Bus, clock: ControllableClock
) -> None:
    site = uuid4()
    a, b, backup = await register_staff(bus, site, 3)
    await put_levels(crisis, site, [level([a, b], "PT2M"), level([backup], round_robin=False)])
    alert_id = (await flag(crisis, site, uuid4()))["alert_id"]

    clock.advance(2 * MINUTE + timedelta(seconds=1))

    async def escalated() -> dict[str, Any] | None:
        view = await alert(crisis, alert_id)
        return view if view["current_level"] == 2 else None

    view = await eventually(escalated, timeout=10)
    assert paged(view) == [(str(a), 1), (str(backup), 2)]  # not b: the level had its chance


async def test_someone_deactivated_or_without_phone_and_email_is_passed_over(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = uuid4()
    a, b, c = await register_staff(bus, site, 3)
    await put_levels(crisis, site, [level([a, b, c])])
    first = await alert(crisis, (await flag(crisis, site, uuid4()))["alert_id"])
    assert paged(first) == [(str(a), 1)]
    await deactivate(bus, crisis, site, b)
    await bus.publish(
        StaffRegistered(
            staff_id=c,
            site_id=site,
            name="Counselor",
            role=StaffRole.CRISIS_LINE,
            email="",  # booking lost their contact details: no channel left to page them on
            locale="en",
        ),
        source="booking",
    )

    async def unreachable() -> bool | None:
        async with crisis.runtime.db().acquire() as conn:
            channels = await conn.fetchval("SELECT channels FROM staff WHERE staff_id = $1", c)
        return True if channels == 0 else None

    await eventually(unreachable, timeout=10)

    second = await alert(crisis, (await flag(crisis, site, uuid4()))["alert_id"])

    assert paged(second) == [(str(a), 1)]
    skipped = [
        (s["staff_id"], s["reason"]) for s in second["timeline"] if s["kind"] == "page_skipped"
    ]
    assert skipped == [(str(b), "staff_deactivated"), (str(c), "no_contact")]
    [turn] = turns(second)
    assert (turn["staff_id"], turn["turn"], turn["after_staff_id"]) == (str(a), 2, str(a))


async def test_a_policy_change_keeps_the_turn_after_the_person_paged_last(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = uuid4()
    a, b, c, d = await register_staff(bus, site, 4)
    await put_levels(crisis, site, [level([a, b, c])])
    for _ in range(2):  # a, then b
        await flag(crisis, site, uuid4())
    changed = await put_levels(crisis, site, [level([d, c, b, a])])
    assert changed["version"] == 2

    after = await alert(crisis, (await flag(crisis, site, uuid4()))["alert_id"])

    assert paged(after) == [(str(a), 1)]  # the next after b in the new order
    assert turns(after)[0]["turn"] == 3


async def test_the_policy_read_shows_round_robin_and_warns_of_a_level_of_one(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = uuid4()
    alone, pair_a, pair_b = await register_staff(bus, site, 3)
    await put_levels(crisis, site, [level([alone]), level([pair_a, pair_b], round_robin=False)])

    answer = await crisis.http.get(f"/sites/{site}/escalation-policy")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [lv["round_robin"] for lv in body["levels"]] == [True, False]
    assert any(w.startswith("level 1: round robin with one person") for w in body["warnings"])


async def test_a_repeated_pass_pages_someone_the_alert_has_not_paged_and_they_keep_turns(
    crisis: RunningCrisis, bus: Bus, clock: ControllableClock
) -> None:
    """Two alerts took turns since the first alert paged a: its repeated pass would page a
    again. b stands in (a keeps their place: the next alert pages a), and the rotation passes
    over b once when it reaches them."""
    site = uuid4()
    a, b, c = await register_staff(bus, site, 3)
    await put_levels(crisis, site, [level([a, b, c], "PT2M")], repeat=2)
    first = (await flag(crisis, site, uuid4()))["alert_id"]
    for _ in range(2):  # b, then c: taken (acknowledged) at once, so they do not escalate
        other = await flag(crisis, site, uuid4())
        taken = paged(await alert(crisis, other["alert_id"]))[0][0]
        answer = await crisis.http.post(
            f"/alerts/{other['alert_id']}/ack", json={"staff_id": taken}
        )
        assert answer.status_code == 200, answer.text

    clock.advance(2 * MINUTE + timedelta(seconds=1))

    async def repeated() -> dict[str, Any] | None:
        view = await alert(crisis, first)
        return view if len(view["pages"]) == 2 else None

    view = await eventually(repeated, timeout=10)
    assert paged(view) == [(str(a), 1), (str(b), 1)]
    skipped = [
        (s["staff_id"], s["reason"]) for s in view["timeline"] if s["kind"] == "page_skipped"
    ]
    assert skipped == [(str(a), "already_paged")]
    assert turns(view)[1]["everyone_paged"] is False

    later = [await alert(crisis, (await flag(crisis, site, uuid4()))["alert_id"]) for _ in range(2)]

    assert [paged(v) for v in later] == [[(str(a), 1)], [(str(c), 1)]]
    assert turns(later[1])[0]["settled"] == [str(b)]
    async with crisis.runtime.db().acquire() as conn:
        early = await conn.fetchval(
            "SELECT early_staff_ids FROM round_robin_turns WHERE site_id = $1", site
        )
    assert early == []
