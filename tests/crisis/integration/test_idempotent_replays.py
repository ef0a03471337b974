"""Keyed replays of crisis's commands (contract: Retries): every keyed `POST` of its OpenAPI
document, called twice with the same key and body, answers the first status and body keys
again; a replayed override answers the override, not its schedule, and adds none."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from opsctl.config import Service
from tests.crisis.integration.harness import Bus, RunningCrisis
from tests.crisis.integration.steps import flag, put_policy, register_staff
from tests.crisis.integration.test_schedules import post_schedule, register_site, weekly_layer
from tests.keyed_posts import keyed_posts, posted_twice

pytestmark = pytest.mark.integration


async def test_a_replayed_override_answers_the_override_and_adds_none(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = await register_site(bus)
    a, b, c = await register_staff(bus, site, 3)
    schedule_id = (await post_schedule(crisis, site, [weekly_layer(a, b)]))["schedule_id"]
    path, key = f"/schedules/{schedule_id}/overrides", {"Idempotency-Key": str(uuid4())}
    body = {
        "staff_id": str(c),
        "replaces": str(a),
        "start": "2026-03-03T00:00:00Z",
        "end": "2026-03-04T00:00:00Z",
    }

    first = await crisis.http.post(path, json=body, headers=key)
    again = await crisis.http.post(path, json=body, headers=key)

    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    schedule = (await crisis.http.get(f"/schedules/{schedule_id}")).json()
    assert len(schedule["overrides"]) == 1
    hidden = await crisis.http.get(f"/replayed{path}/{first.json()['override_id']}")
    assert hidden.status_code == 404


Call = tuple[str, dict[str, Any]]


async def _risk_flags(crisis: RunningCrisis, bus: Bus) -> Call:
    site = await register_site(bus)
    return "/risk-flags", {
        "client_id": str(uuid4()),
        "site_id": str(site),
        "level": "high",
        "source": "integration",
    }


async def _alert(crisis: RunningCrisis, bus: Bus) -> tuple[str, Any]:
    site = await register_site(bus)
    (staff,) = await register_staff(bus, site, 1)
    await put_policy(crisis, site, [([staff], "PT30S")])
    return (await flag(crisis, site, uuid4()))["alert_id"], staff


async def _ack(crisis: RunningCrisis, bus: Bus) -> Call:
    alert_id, staff = await _alert(crisis, bus)
    return f"/alerts/{alert_id}/ack", {"staff_id": str(staff)}


async def _escalate(crisis: RunningCrisis, bus: Bus) -> Call:
    alert_id, staff = await _alert(crisis, bus)  # one level, repeated once: a second pass
    return f"/alerts/{alert_id}/escalate", {"staff_id": str(staff), "level": 1}


async def _resolve(crisis: RunningCrisis, bus: Bus) -> Call:
    alert_id, staff = await _alert(crisis, bus)
    return f"/alerts/{alert_id}/resolve", {"staff_id": str(staff), "outcome": "safety_plan"}


async def _schedules(crisis: RunningCrisis, bus: Bus) -> Call:
    site = await register_site(bus)
    a, b = await register_staff(bus, site, 2)
    await post_schedule(crisis, site, [weekly_layer(a, b)])  # crisis knows them by now
    return "/schedules", {"site_id": str(site), "name": "Nights", "layers": [weekly_layer(a, b)]}


async def _overrides(crisis: RunningCrisis, bus: Bus) -> Call:
    site = await register_site(bus)
    a, b = await register_staff(bus, site, 2)
    schedule_id = (await post_schedule(crisis, site, [weekly_layer(a)]))["schedule_id"]
    return f"/schedules/{schedule_id}/overrides", {
        "staff_id": str(b),
        "start": "2026-03-03T00:00:00Z",
        "end": "2026-03-04T00:00:00Z",
    }


async def _swap_schedule(crisis: RunningCrisis, bus: Bus) -> tuple[str, Any, Any]:
    """A on call from 2026 on; B a participant whose layer starts only in 2099."""
    site = await register_site(bus)
    a, b = await register_staff(bus, site, 2)
    layers = [weekly_layer(a), weekly_layer(b, start_on="2099-01-05")]
    return (await post_schedule(crisis, site, layers))["schedule_id"], a, b


def _tomorrow() -> dict[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    return {"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()}


async def _swap_requests(crisis: RunningCrisis, bus: Bus) -> Call:
    schedule_id, a, _ = await _swap_schedule(crisis, bus)
    return f"/schedules/{schedule_id}/swap-requests", {**_tomorrow(), "requester_id": str(a)}


async def _asked_swap(crisis: RunningCrisis, bus: Bus) -> tuple[str, Any]:
    path, body = await _swap_requests(crisis, bus)
    answer = await crisis.http.post(path, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"], answer.json()["offered_to"][0]


async def _swap_accept(crisis: RunningCrisis, bus: Bus) -> Call:
    swap_id, offered = await _asked_swap(crisis, bus)
    return f"/swap-requests/{swap_id}/accept", {"staff_id": offered}


async def _swap_cancel(crisis: RunningCrisis, bus: Bus) -> Call:
    swap_id, _ = await _asked_swap(crisis, bus)
    return f"/swap-requests/{swap_id}/cancel", {}


CALLS: dict[str, Callable[[RunningCrisis, Bus], Awaitable[Call]]] = {
    "/risk-flags": _risk_flags,
    "/alerts/{alert_id}/ack": _ack,
    "/alerts/{alert_id}/escalate": _escalate,
    "/alerts/{alert_id}/resolve": _resolve,
    "/schedules": _schedules,
    "/schedules/{schedule_id}/overrides": _overrides,
    "/schedules/{schedule_id}/swap-requests": _swap_requests,
    "/swap-requests/{swap_request_id}/accept": _swap_accept,
    "/swap-requests/{swap_request_id}/cancel": _swap_cancel,
}


def test_every_keyed_post_has_a_row() -> None:
    # The SMS provider's webhook carries its secret, not an API key: nothing to replay.
    assert set(CALLS) == keyed_posts(Service.CRISIS) - {"/inbound/sms"}


@pytest.mark.parametrize("route", sorted(CALLS))
async def test_a_replay_answers_the_first_status_and_shape(
    crisis: RunningCrisis, bus: Bus, route: str
) -> None:
    path, body = await CALLS[route](crisis, bus)
    key = {"Idempotency-Key": str(uuid4())}

    await posted_twice(crisis.http, path, body, key)
