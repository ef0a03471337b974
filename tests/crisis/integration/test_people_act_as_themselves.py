"""Acknowledging and resolving act as the credential's staff member; a flag must name a client
of its site; a client's alert is looked up within the flag's site (contract: Identity, roles)."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from nats.aio.msg import Msg
from prometheus_client import REGISTRY

from counseling_shared.busauth import DIRECTORY_SUBJECT
from counseling_shared.codes import Channel, RiskLevel, RiskSource
from counseling_shared.events import ClientRegistered, RiskFlagged
from tests.crisis.integration.harness import (
    API_KEY,
    Bus,
    RunningCrisis,
    crisis_settings,
    eventually,
    running_crisis,
)
from tests.crisis.integration.steps import put_policy, staff_registered

pytestmark = pytest.mark.integration

SITE_A, SITE_B = uuid4(), uuid4()


@dataclass
class Center:
    crisis: RunningCrisis
    bus: Bus
    staff_a: list[UUID]
    staff_b: list[UUID]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


ADMIN = bearer(API_KEY)
INTEGRATION = bearer("integration-a")


def staff_key(n: int) -> dict[str, str]:
    return bearer(f"staff-{n}")


@pytest.fixture(scope="module")
async def center(database_url: str, nats_url: str) -> AsyncIterator[Center]:
    async with Bus.connect(nats_url) as bus:
        staff_a, staff_b = [uuid4(), uuid4()], [uuid4()]
        keys = ",".join(
            [
                API_KEY,
                f"integration-a;role=integration;sites={SITE_A}",
                f"staff-0;role=staff;sites={SITE_A};staff={staff_a[0]}",
                f"staff-1;role=staff;sites={SITE_A};staff={staff_a[1]}",
                # Bound to both sites, but works at site B only.
                f"staff-2;role=staff;sites={SITE_A}|{SITE_B};staff={staff_b[0]}",
            ]
        )
        settings = crisis_settings(
            database_url,
            nats_url,
            API_KEYS=keys,
            CRISIS_REQUIRE_KNOWN_CLIENT=True,
            CRISIS_CLIENT_WAIT_SECONDS=0.5,
        )
        async with running_crisis(settings) as crisis:
            for site_id, staff in ((SITE_A, staff_a), (SITE_B, staff_b)):
                for staff_id in staff:
                    await bus.publish(staff_registered(staff_id, site_id), source="booking")
            await put_policy(crisis, SITE_A, [(staff_a, "PT60S")])
            await put_policy(crisis, SITE_B, [(staff_b, "PT60S")])
            yield Center(crisis, bus, staff_a, staff_b)


async def register_client(center: Center, site_id: UUID) -> UUID:
    client_id = uuid4()
    event = ClientRegistered(
        client_id=client_id,
        site_id=site_id,
        locale="en",
        timezone="UTC",
        preferred_channel=Channel.SMS,
    )
    await center.bus.publish(event, source="booking")
    return client_id


async def open_alert(center: Center, site_id: UUID = SITE_A) -> str:
    client_id = await register_client(center, site_id)
    answer = await center.crisis.http.post(
        "/risk-flags", json=flag_body(client_id, site_id), headers=ADMIN
    )
    assert answer.status_code == 202, answer.text
    alert_id: str = answer.json()["alert_id"]
    return alert_id


def flag_body(client_id: UUID, site_id: UUID) -> dict[str, str]:
    return {
        "client_id": str(client_id),
        "site_id": str(site_id),
        "level": "high",
        "source": "integration",
    }


async def test_an_integration_key_may_not_ack_resolve_or_change_the_policy(
    center: Center,
) -> None:
    alert_id = await open_alert(center)
    http = center.crisis.http
    staff = str(center.staff_a[0])

    ack = await http.post(f"/alerts/{alert_id}/ack", json={"staff_id": staff}, headers=INTEGRATION)
    resolve = await http.post(
        f"/alerts/{alert_id}/resolve",
        json={"staff_id": staff, "outcome": "safety_plan"},
        headers=INTEGRATION,
    )
    policy = await http.put(
        f"/sites/{SITE_A}/escalation-policy",
        json={"levels": [{"staff_ids": [staff], "ack_timeout": "PT1S"}]},
        headers=INTEGRATION,
    )

    assert [a.status_code for a in (ack, resolve, policy)] == [403, 403, 403]
    assert {a.headers["content-type"] for a in (ack, resolve, policy)} == {
        "application/problem+json"
    }
    view = (await http.get(f"/alerts/{alert_id}", headers=INTEGRATION)).json()
    assert view["status"] == "open"


async def test_a_staff_key_acknowledges_as_its_own_staff_member(center: Center) -> None:
    alert_id = await open_alert(center)

    answer = await center.crisis.http.post(f"/alerts/{alert_id}/ack", json={}, headers=staff_key(1))

    assert answer.status_code == 200, answer.text
    assert answer.json()["acknowledged_by"] == str(center.staff_a[1])
    async with center.crisis.runtime.db().acquire() as conn:
        metadata = await conn.fetchval(
            """SELECT metadata FROM events WHERE stream_id LIKE '%' || $1
               AND type = 'Acknowledged'""",
            alert_id,
        )
    assert metadata["actor"] == {"kind": "staff", "id": str(center.staff_a[1])}
    published = await center.bus.crisis_events(SITE_A, "AlertAcknowledged")
    [envelope] = [e.envelope for e in published if e.data["alert_id"] == alert_id]
    assert envelope["actor"] == f"staff:{center.staff_a[1]}"  # CloudEvents extension


async def test_a_staff_key_acknowledges_with_a_bare_post(center: Center) -> None:
    """A staff key has nothing to put in the body (it acts as its own member): a POST without
    one is an acknowledgement, not a 422 "body: Field required"."""
    alert_id = await open_alert(center)

    answer = await center.crisis.http.post(f"/alerts/{alert_id}/ack", headers=staff_key(1))

    assert answer.status_code == 200, answer.text
    assert answer.json()["acknowledged_by"] == str(center.staff_a[1])
    admin = await center.crisis.http.post(f"/alerts/{alert_id}/ack", headers=ADMIN)
    assert admin.status_code == 422  # an admin still names whom it acts for
    assert [e["field"] for e in admin.json()["errors"]] == ["staff_id"]


async def test_a_staff_key_may_not_name_another_staff_member(center: Center) -> None:
    alert_id = await open_alert(center)

    answer = await center.crisis.http.post(
        f"/alerts/{alert_id}/ack", json={"staff_id": str(center.staff_a[0])}, headers=staff_key(1)
    )

    assert answer.status_code == 403
    view = (await center.crisis.http.get(f"/alerts/{alert_id}", headers=ADMIN)).json()
    assert view["status"] == "open"


async def test_staff_who_do_not_work_at_the_alerts_site_cannot_act_on_it(
    center: Center,
) -> None:
    alert_id = await open_alert(center)
    http = center.crisis.http

    by_key = await http.post(f"/alerts/{alert_id}/ack", json={}, headers=staff_key(2))
    for_them = await http.post(
        f"/alerts/{alert_id}/ack", json={"staff_id": str(center.staff_b[0])}, headers=ADMIN
    )

    assert (by_key.status_code, for_them.status_code) == (403, 403)


async def test_a_staff_key_of_another_site_cannot_see_or_touch_the_alert(
    center: Center,
) -> None:
    alert_id = await open_alert(center, SITE_B)
    http = center.crisis.http

    read = await http.get(f"/alerts/{alert_id}", headers=staff_key(0))
    ack = await http.post(f"/alerts/{alert_id}/ack", json={}, headers=staff_key(0))

    assert (read.status_code, ack.status_code) == (403, 403)


async def test_an_admin_acts_for_a_named_staff_member_and_that_is_recorded(
    center: Center,
) -> None:
    alert_id = await open_alert(center)
    http = center.crisis.http
    staff = center.staff_a[0]

    unnamed = await http.post(f"/alerts/{alert_id}/ack", json={}, headers=ADMIN)
    named = await http.post(
        f"/alerts/{alert_id}/resolve",
        json={"staff_id": str(staff), "outcome": "safety_plan"},
        headers={**ADMIN, "X-Request-ID": f"resolve-{alert_id}"},
    )

    assert unnamed.status_code == 422
    assert named.status_code == 200, named.text
    assert named.json()["resolved_by"] == str(staff)
    trail = await http.get("/audit", params={"actor_id": str(staff)}, headers=ADMIN)
    [entry] = [e for e in trail.json()["items"] if e["request_id"] == f"resolve-{alert_id}"]
    assert entry["on_behalf_of"] == str(staff)
    assert entry["actor"]["kind"] == "key"
    assert (entry["action"], entry["resource_id"], entry["status"]) == (
        "resolve_alert",
        alert_id,
        200,
    )
    assert entry["site_id"] == str(SITE_A)


async def test_a_flag_for_a_client_of_another_site_is_refused(center: Center) -> None:
    """Sent with site A's id, by an admin or by site A's own staff key (which may flag at A)."""
    client_of_b = await register_client(center, SITE_B)
    await eventually(lambda: _known(center, client_of_b))

    answers = [
        await center.crisis.http.post(
            "/risk-flags", json=flag_body(client_of_b, SITE_A), headers=headers
        )
        for headers in (ADMIN, staff_key(0))
    ]

    assert [a.status_code for a in answers] == [422, 422]
    assert [a.json()["errors"][0]["field"] for a in answers] == ["client_id", "client_id"]
    assert await _alerts_of(center, client_of_b) == []


@asynccontextmanager
async def booking_directory(center: Center, sites: dict[UUID, UUID]) -> AsyncIterator[None]:
    """booking's side of `booking.directory.contact` on the real bus, knowing `sites`
    (client id -> site id); crisis has heard nothing of these clients."""

    async def answer(msg: Msg) -> None:
        client_id = UUID(json.loads(msg.data)["client_id"])
        site_id = sites.get(client_id)
        reply = {"error": "not_found"} if site_id is None else directory_entry(client_id, site_id)
        await msg.respond(json.dumps(reply).encode())

    sub = await center.bus.nc.subscribe(DIRECTORY_SUBJECT, queue="booking-directory", cb=answer)
    await center.bus.nc.flush()
    try:
        yield
    finally:
        await sub.unsubscribe()


def directory_entry(client_id: UUID, site_id: UUID) -> dict[str, str]:
    return {
        "client_id": str(client_id),
        "site_id": str(site_id),
        "email": "client@example.org",
        "locale": "en",
        "timezone": "UTC",
        "preferred_channel": "email",
    }


async def test_a_flag_for_a_client_booking_does_not_know_is_refused(center: Center) -> None:
    stranger = uuid4()

    async with booking_directory(center, {}):
        answer = await center.crisis.http.post(
            "/risk-flags", json=flag_body(stranger, SITE_A), headers=ADMIN
        )

    assert answer.status_code == 422
    assert await _alerts_of(center, stranger) == []


async def test_booking_vouches_for_a_client_whose_registration_has_not_reached_crisis(
    center: Center,
) -> None:
    behind, of_b = uuid4(), uuid4()

    async with booking_directory(center, {behind: SITE_A, of_b: SITE_B}):
        accepted = await center.crisis.http.post(
            "/risk-flags", json=flag_body(behind, SITE_A), headers=ADMIN
        )
        refused = await center.crisis.http.post(
            "/risk-flags", json=flag_body(of_b, SITE_A), headers=ADMIN
        )

    assert accepted.status_code == 202, accepted.text
    [alert] = await _alerts_of(center, behind)
    assert alert["site_id"] == SITE_A
    assert refused.status_code == 422
    assert await _alerts_of(center, of_b) == []


async def test_a_flag_is_accepted_unverified_when_booking_cannot_answer(center: Center) -> None:
    """Paging never depends on booking being up (contract): nobody answers the directory."""
    stranger = uuid4()
    before = REGISTRY.get_sample_value("crisis_flags_client_unverified_total") or 0.0

    answer = await center.crisis.http.post(
        "/risk-flags", json=flag_body(stranger, SITE_A), headers=ADMIN
    )

    assert answer.status_code == 202, answer.text
    assert len(await _alerts_of(center, stranger)) == 1
    after = REGISTRY.get_sample_value("crisis_flags_client_unverified_total")
    assert after == before + 1


async def test_a_flag_waits_for_a_client_registered_a_moment_ago(center: Center) -> None:
    client_id = await register_client(center, SITE_A)  # crisis has likely not seen it yet

    answer = await center.crisis.http.post(
        "/risk-flags", json=flag_body(client_id, SITE_A), headers=ADMIN
    )

    assert answer.status_code == 202, answer.text


async def test_a_flag_at_another_site_never_joins_this_sites_alert(center: Center) -> None:
    alert_id = await open_alert(center)
    [row] = await _alerts_of_alert(center, alert_id)
    client_id = row["client_id"]
    forged = RiskFlagged(
        flag_id=uuid4(),
        client_id=client_id,
        site_id=SITE_B,
        level=RiskLevel.IMMINENT,
        source=RiskSource.FOLLOWUP,
        flagged_at=datetime.now(UTC),
    )

    await center.bus.publish(forged, source="followup")
    alerts = await eventually(lambda: _two_alerts(center, client_id), timeout=10)

    by_site = {a["site_id"]: a for a in alerts}
    assert by_site[SITE_A]["id"] == UUID(alert_id)
    assert by_site[SITE_A]["level"] == "high"  # not raised by the other site's flag


async def _known(center: Center, client_id: UUID) -> bool:
    async with center.crisis.runtime.db().acquire() as conn:
        return bool(await conn.fetchval("SELECT true FROM clients WHERE client_id = $1", client_id))


async def _alerts_of(center: Center, client_id: UUID) -> list[Any]:
    async with center.crisis.runtime.db().acquire() as conn:
        return list(await conn.fetch("SELECT * FROM alerts WHERE client_id = $1", client_id))


async def _alerts_of_alert(center: Center, alert_id: str) -> list[Any]:
    async with center.crisis.runtime.db().acquire() as conn:
        return list(await conn.fetch("SELECT * FROM alerts WHERE id = $1", UUID(alert_id)))


async def _two_alerts(center: Center, client_id: UUID) -> list[Any] | None:
    found = await _alerts_of(center, client_id)
    return found if len(found) == 2 else None
