"""Staff phone digests and LINK_SIGNING_KEY rotation: a StaffRegistered sent again replaces the
digest (a changed phone), a reply matched under a previous key is digested again with the
current one, and `crisis_staff_phone_digests` shows how many digests still need an old key."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.db import connect
from crisis.domain.phones import key_fingerprint, phone_digest
from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    eventually,
    pages,
)
from tests.crisis.integration.steps import (
    NEW_LINK_KEY,
    OLD_LINK_KEY,
    alert,
    announce_staff,
    crisis_with_keys,
    flag,
    put_policy,
    register_staff,
    sms_reply,
    staff_registered,
)

pytestmark = pytest.mark.integration


async def digest_states(crisis: RunningCrisis) -> dict[str, float]:
    metrics = (await crisis.http.get("/metrics")).text
    prefix = "crisis_staff_phone_digests{"
    found = {}
    for line in metrics.splitlines():
        if line.startswith(prefix):
            labels, value = line.split()
            found[labels.split('"')[1]] = float(value)
    return found


async def shows(crisis: RunningCrisis, **expected: float) -> bool:
    return await digest_states(crisis) == expected


async def stored(database_url: str, staff_id: UUID) -> dict[str, Any]:
    conn = await connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT phone_digest, phone_digest_key, locale FROM staff WHERE staff_id = $1",
            staff_id,
        )
    finally:
        await conn.close()
    assert row is not None
    return dict(row)


async def paged_code(crisis: RunningCrisis, bus: Bus, site_id: UUID, staff_id: UUID) -> str:
    """Page `staff_id` alone (a new alert at the site) and return the page's reply code."""
    await put_policy(crisis, site_id, [([staff_id], "PT60S")], repeat=0)
    alert_id = (await flag(crisis, site_id, uuid4()))["alert_id"]

    async def paged() -> dict[str, Any] | None:
        found = pages(await bus.crisis_events(site_id, "PageRequested"), alert_id)
        return found[0] if found else None

    page = await eventually(paged, timeout=10)
    code: str = page["reply_code"]
    return code


async def test_a_changed_phone_replaces_the_digest_the_old_number_no_longer_matches(
    database_url: str, nats_url: str
) -> None:
    site_id, old_phone, new_phone = uuid4(), "+33 6 11 11 11 11", "+33 7 22 22 22 22"
    async with (
        crisis_with_keys(database_url, nats_url, NEW_LINK_KEY) as crisis,
        Bus.connect(nats_url) as bus,
    ):
        [staff_id] = await register_staff(bus, site_id, 1, [old_phone])
        await eventually(lambda: _has_digest(database_url, staff_id, old_phone))

        # booking announces the member again after PATCH /staff/{id}
        await bus.publish(staff_registered(staff_id, site_id, new_phone, "fr"), source="booking")
        await eventually(lambda: _has_digest(database_url, staff_id, new_phone))
        assert (await stored(database_url, staff_id))["locale"] == "fr"
        code = await paged_code(crisis, bus, site_id, staff_id)

        assert "No open page" in await sms_reply(crisis, old_phone, f"ACK {code}")
        alert_id = (await _latest_alert(crisis, site_id))["id"]
        assert (await alert(crisis, alert_id))["status"] == "open"
        # Answered in the member's new language, French.
        assert "prise en charge" in await sms_reply(crisis, new_phone, f"ACK {code}")
        assert (await alert(crisis, alert_id))["acknowledged_by"] == str(staff_id)


async def test_an_older_announcement_arriving_late_does_not_bring_back_the_old_phone(
    database_url: str, nats_url: str
) -> None:
    site_id, old_phone, new_phone = uuid4(), "+33 6 66 66 66 66", "+33 7 77 77 77 77"
    now = datetime.now(UTC)
    async with crisis_with_keys(database_url, nats_url, NEW_LINK_KEY), Bus.connect(nats_url) as bus:
        staff_id = uuid4()
        await bus.publish(staff_registered(staff_id, site_id, new_phone, "fr"), source="booking")
        await eventually(lambda: _has_digest(database_url, staff_id, new_phone))
        # The registration, retried after a failure (or redriven), comes after the change.
        late = staff_registered(staff_id, site_id, old_phone)
        await bus.publish(late, source="booking", time=now - timedelta(minutes=5))
        [marker] = await register_staff(bus, site_id, 1)  # after it on the same consumer
        await eventually(lambda: _has_digest(database_url, marker, "+15550000000"))

        assert await _has_digest(database_url, staff_id, new_phone)
        assert (await stored(database_url, staff_id))["locale"] == "fr"


async def test_a_reply_matched_under_a_previous_key_is_digested_again_with_the_current_one(
    database_url: str, nats_url: str
) -> None:
    site_id, phones = uuid4(), ["+33 6 33 33 33 33", "+33 6 44 44 44 44", "+33 6 55 55 55 55"]
    async with crisis_with_keys(database_url, nats_url, OLD_LINK_KEY), Bus.connect(nats_url) as bus:
        paged, silent, unknown = staff = await register_staff(bus, site_id, 3, phones)
        await eventually(lambda: _all_have_digests(database_url, staff, phones, OLD_LINK_KEY))
    await _forget_key(database_url, unknown)  # as the migration left digests made before it
    await _clear_other_staff(database_url, site_id)

    async with (
        crisis_with_keys(database_url, nats_url, NEW_LINK_KEY, previous=OLD_LINK_KEY) as crisis,
        Bus.connect(nats_url) as bus,
    ):
        await eventually(lambda: shows(crisis, current=0, previous=2, unknown=1), timeout=10)
        code = await paged_code(crisis, bus, site_id, paged)

        assert "acknowledged" in await sms_reply(crisis, phones[0], f"ACK {code}")

        assert await stored(database_url, paged) == {
            "phone_digest": phone_digest(NEW_LINK_KEY, phones[0]),
            "phone_digest_key": key_fingerprint(NEW_LINK_KEY),
            "locale": "en",
        }
        await eventually(lambda: shows(crisis, current=1, previous=1, unknown=1), timeout=10)
        # Any reply matched by the number counts, a wrong code too: the number is known then.
        assert "No open page" in await sms_reply(crisis, phones[2], "ACK ZZZZZZ")
        await eventually(lambda: shows(crisis, current=2, previous=1, unknown=0), timeout=10)
        assert (await stored(database_url, silent))["phone_digest_key"] == key_fingerprint(
            OLD_LINK_KEY
        )

    # The old key dropped: the member who replied still matches, the silent one no longer does.
    async with crisis_with_keys(database_url, nats_url, NEW_LINK_KEY) as crisis:
        await eventually(lambda: shows(crisis, current=2, previous=0, unknown=1), timeout=10)
        assert "No open page" in await sms_reply(crisis, phones[1], "ACK ZZZZZZ")
        assert (await stored(database_url, silent))["phone_digest_key"] == key_fingerprint(
            OLD_LINK_KEY
        )


async def test_staff_announced_again_are_all_digested_with_the_current_key(
    database_url: str, nats_url: str
) -> None:
    """What `counselctl staff reannounce` makes booking send: each member's StaffRegistered."""
    site_id = uuid4()
    phones = ["+44 20 7946 0001", "+44 20 7946 0002"]
    async with crisis_with_keys(database_url, nats_url, OLD_LINK_KEY), Bus.connect(nats_url) as bus:
        staff = await register_staff(bus, site_id, 2, phones)
        await eventually(lambda: _all_have_digests(database_url, staff, phones, OLD_LINK_KEY))
    await _clear_other_staff(database_url, site_id)

    async with (
        crisis_with_keys(database_url, nats_url, NEW_LINK_KEY, previous=OLD_LINK_KEY) as crisis,
        Bus.connect(nats_url) as bus,
    ):
        await eventually(lambda: shows(crisis, current=0, previous=2, unknown=0), timeout=10)
        await announce_staff(bus, site_id, staff, phones)
        await eventually(lambda: shows(crisis, current=2, previous=0, unknown=0), timeout=10)
        assert await _all_have_digests(database_url, staff, phones, NEW_LINK_KEY)


async def _has_digest(
    database_url: str, staff_id: UUID, phone: str, key: str = NEW_LINK_KEY
) -> bool:
    conn = await connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT phone_digest, phone_digest_key FROM staff WHERE staff_id = $1", staff_id
        )
    finally:
        await conn.close()
    return row is not None and (row["phone_digest"], row["phone_digest_key"]) == (
        phone_digest(key, phone),
        key_fingerprint(key),
    )


async def _all_have_digests(
    database_url: str, staff: list[UUID], phones: list[str], key: str
) -> bool:
    return all(
        [await _has_digest(database_url, s, p, key) for s, p in zip(staff, phones, strict=True)]
    )


async def _forget_key(database_url: str, staff_id: UUID) -> None:
    conn = await connect(database_url)
    try:
        await conn.execute("UPDATE staff SET phone_digest_key = NULL WHERE staff_id = $1", staff_id)
    finally:
        await conn.close()


async def _clear_other_staff(database_url: str, site_id: UUID) -> None:
    """Earlier tests' staff share the module's database: the gauge counts only this site's."""
    conn = await connect(database_url)
    try:
        await conn.execute(
            """UPDATE staff SET deactivated_at = now()
               WHERE site_id <> $1 AND deactivated_at IS NULL""",
            site_id,
        )
    finally:
        await conn.close()


async def _latest_alert(crisis: RunningCrisis, site_id: UUID) -> dict[str, Any]:
    answer = await crisis.http.get("/alerts", params={"site_id": str(site_id)})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found[0]
