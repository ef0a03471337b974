"""notify's HTTP API: preferences, listing, errors as problem+json."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from counseling_shared.codes import FollowUpKind
from counseling_shared.events import ClientRegistered, FollowUpDue
from tests.notify.integration.conftest import Notify, eventually

pytestmark = pytest.mark.integration


async def test_preferences_are_replaced_by_a_put_and_read_back(notify: Notify) -> None:
    recipient = await notify.new_client(await notify.new_site(), uuid4())
    put = await notify.set_preferences(
        recipient, {"quiet_hours": {"start": "21:00", "end": "08:00"}, "channel": "sms"}
    )
    assert put.status_code == 200
    assert put.json()["quiet_hours"] == {"start": "21:00", "end": "08:00"}

    cleared = await notify.set_preferences(recipient, {"channel": "phone"})
    got = await notify.http.get(f"/recipients/{recipient}/preferences")

    assert cleared.status_code == 200
    assert got.status_code == 200
    assert (got.json()["quiet_hours"], got.json()["channel"]) == (None, "phone")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quiet_hours": {"start": "25:00", "end": "08:00"}}, "quiet_hours.start"),
        ({"quiet_hours": {"start": "21:00"}}, "quiet_hours.end"),
        ({"quiet_hours": {"start": "21:00", "end": "21:00"}}, "quiet_hours"),
        ({"channel": "pigeon"}, "channel"),
    ],
)
async def test_bad_preferences_are_422_naming_the_field(
    notify: Notify, body: dict[str, object], field: str
) -> None:
    response = await notify.set_preferences(uuid4(), body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_preferences_of_a_recipient_notify_never_heard_of_are_404(notify: Notify) -> None:
    response = await notify.http.get(f"/recipients/{uuid4()}/preferences")
    assert response.status_code == 404
    assert response.json()["status"] == 404


async def test_preferences_of_a_recipient_booking_never_registered_are_422(
    notify: Notify,
) -> None:
    recipient = uuid4()

    response = await notify.set_preferences(recipient, {"channel": "sms"})

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["recipient_id"]
    assert (await notify.http.get(f"/recipients/{recipient}/preferences")).status_code == 404


async def test_a_known_client_without_preferences_has_the_defaults(notify: Notify) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    await notify.publish(
        ClientRegistered(
            client_id=client_id,
            site_id=site_id,
            locale="ru",
            timezone="Europe/Moscow",
            preferred_channel="email",
        ),
        source="booking",
        subject=client_id,
    )

    async def defaults() -> bool:
        response = await notify.http.get(f"/recipients/{client_id}/preferences")
        return response.status_code == 200 and response.json()["channel"] is None

    assert await eventually(defaults)


async def test_an_unknown_notification_is_404_and_a_malformed_id_is_422(notify: Notify) -> None:
    assert (await notify.http.get(f"/notifications/{uuid4()}")).status_code == 404
    assert (await notify.http.get("/notifications/not-a-uuid")).status_code == 422
    assert (await notify.http.get("/notifications?status=lost")).status_code == 422


async def test_every_call_needs_an_api_key(notify: Notify) -> None:
    response = await notify.http.get("/notifications", headers={"Authorization": ""})
    assert response.status_code == 401
    put = await notify.http.put(
        f"/recipients/{uuid4()}/preferences", json={}, headers={"Authorization": "Bearer nope"}
    )
    assert put.status_code == 401


async def test_dropping_quiet_hours_releases_a_held_followup_at_once(notify: Notify) -> None:
    site_id = await notify.new_site(timezone="Asia/Seoul")
    client_id = await notify.new_client(site_id, uuid4(), timezone="Asia/Seoul")
    address = f"held-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, timezone="Asia/Seoul")
    local_now = notify.clock.now().astimezone(ZoneInfo("Asia/Seoul"))
    quiet = {
        "start": (local_now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (local_now + timedelta(hours=3)).strftime("%H:%M"),
    }
    assert (await notify.set_preferences(client_id, {"quiet_hours": quiet})).status_code == 200
    await notify.publish(
        FollowUpDue(
            followup_id=uuid4(),
            client_id=client_id,
            site_id=site_id,
            kind=FollowUpKind.POST_CLOSURE,
            due_at=datetime.now(UTC),
        ),
        source="followup",
        subject=client_id,
    )

    async def held_by_quiet_hours() -> list[dict[str, Any]]:
        # The row exists before a worker has claimed it and applied the hold.
        rows = await notify.notifications(recipient_id=client_id)
        return [r for r in rows if r["held_for"] == "quiet_hours"]

    [held] = await eventually(held_by_quiet_hours)
    assert held["status"] == "pending"

    assert (await notify.set_preferences(client_id, {})).status_code == 200

    await eventually(lambda: notify.notifications(recipient_id=client_id, status="sent"))
    assert any(address in m.rcpt_tos for m in notify.sinks.smtp.messages)
    listed = await notify.notifications(recipient_id=client_id, status="pending")
    assert listed == []


async def test_deliveries_are_counted_on_metrics(notify: Notify) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    notify.directory.add(client_id, email=f"m-{client_id.hex[:8]}@mail.example")
    await notify.publish(
        FollowUpDue(
            followup_id=uuid4(),
            client_id=client_id,
            site_id=site_id,
            kind=FollowUpKind.CHECKIN,
            due_at=datetime.now(UTC),
        ),
        source="followup",
        subject=client_id,
    )
    await eventually(lambda: notify.notifications(recipient_id=client_id, status="sent"))

    metrics = (await notify.http.get("/metrics", headers={"Authorization": ""})).text

    assert 'notify_delivery_attempts_total{channel="email",lane="bulk",outcome="sent"}' in metrics
    assert 'notify_delivery_latency_seconds_count{lane="bulk"}' in metrics
