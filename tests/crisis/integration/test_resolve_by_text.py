# ruff: noqa: RUF001  (French answers: the apostrophes are meant)
"""`RES <code> <n>` by text (crisis's own `POST /inbound/sms`, and as notify asks over
`crisis.staff_replies`): `RES <code>` alone answers the outcomes and their digits and changes
nothing; with a digit it resolves the alert with that outcome as the page's staff member, by
the HTTP resolve's rules, audited as them and answered in their language; another phone's
code resolves nothing; a replayed post resolves once."""

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.db import connect
from crisis.settings import CrisisSettings
from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    StartCrisis,
    eventually,
    pages,
)
from tests.crisis.integration.steps import (
    alert,
    flag,
    put_policy,
    staff_registered,
)
from tests.crisis.integration.test_inbound_sms_replays import SECRET, text
from tests.crisis.integration.test_staff_replies_bus import ask
from tests.crisis.integration.test_twilio_replays import phone

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def crisis(start_crisis: StartCrisis) -> AsyncIterator[RunningCrisis]:
    async with start_crisis(INBOUND_SMS_SECRET=SECRET) as running:
        yield running


async def paged(
    crisis: RunningCrisis, bus: Bus, numbers: list[str], locale: str = "en"
) -> tuple[str, str, UUID]:
    """An open alert paging the first of two staff members (in `locale`): its id, the page's
    reply code, who was paged."""
    site_id = uuid4()
    staff = [uuid4() for _ in numbers]
    for staff_id, number in zip(staff, numbers, strict=True):
        await bus.publish(staff_registered(staff_id, site_id, number, locale), source="booking")
    await put_policy(crisis, site_id, [([staff[0]], "PT60S"), ([staff[1]], "PT60S")], repeat=0)
    alert_id = str((await flag(crisis, site_id, uuid4()))["alert_id"])

    async def page() -> dict[str, Any] | None:
        found = pages(await bus.crisis_events(site_id, "PageRequested"), alert_id)
        return found[0] if found else None

    return alert_id, (await eventually(page, timeout=10))["reply_code"], staff[0]


async def staff_entries(database_url: str, staff_id: UUID) -> list[tuple[Any, ...]]:
    conn = await connect(database_url)
    try:
        rows = await conn.fetch(
            """SELECT actor_kind, action, resource, status FROM audit
               WHERE actor_id = $1 ORDER BY at""",
            str(staff_id),
        )
    finally:
        await conn.close()
    return [tuple(r) for r in rows]


async def test_res_alone_lists_the_outcomes_and_a_digit_resolves_as_the_staff_member(
    crisis: RunningCrisis, bus: Bus, database_url: str
) -> None:
    number = phone()
    alert_id, code, first = await paged(crisis, bus, [number, phone()])

    listed = await text(crisis, number, f"res {code.lower()}")

    assert listed["reply"] == (
        f"To resolve alert {alert_id[:8]}, reply RES {code} and the outcome's digit:"
        " 1 safety plan, 2 referred to emergency services, 3 referred to hospital, 4 police,"
        " 5 no risk found."
    )
    assert (await alert(crisis, alert_id))["status"] == "open"  # asking changes nothing

    resolved = await text(crisis, number, f"RES {code} 2", message_id=f"m-{uuid4()}")

    assert resolved["reply"] == f"Alert {alert_id[:8]} resolved: Referred to emergency services."
    view = await alert(crisis, alert_id)
    assert (view["status"], view["outcome"], view["resolved_by"]) == (
        "resolved",
        "referred_emergency",
        str(first),
    )
    assert await staff_entries(database_url, first) == [
        ("staff", "inbound_sms", "inbound", 200),
        ("staff", "inbound_sms", "inbound", 200),
    ]
    again = await text(crisis, number, f"RES {code} 5")
    assert again["reply"] == f"Alert {alert_id[:8]} is already resolved."
    assert (await alert(crisis, alert_id))["outcome"] == "referred_emergency"


async def test_another_phones_code_and_a_wrong_digit_resolve_nothing(
    crisis: RunningCrisis, bus: Bus
) -> None:
    first_number, second_number = phone(), phone()
    alert_id, code, _ = await paged(crisis, bus, [first_number, second_number])

    # The second member was not paged yet: the code is the first one's page.
    stranger = await text(crisis, second_number, f"RES {code} 1")
    digit_out_of_range = await text(crisis, first_number, f"RES {code} 7")

    assert stranger["reply"] == "No open page with this code was sent to this phone."
    assert digit_out_of_range["reply"].startswith(f"To resolve alert {alert_id[:8]}, reply RES")
    assert (await alert(crisis, alert_id))["status"] == "open"


async def test_a_replayed_res_resolves_once(crisis: RunningCrisis, bus: Bus) -> None:
    number = phone()
    alert_id, code, _ = await paged(crisis, bus, [number, phone()])
    message_id = f"msg-{uuid4()}"
    resolved = await text(crisis, number, f"RES {code} 1", message_id=message_id)
    assert "resolved" in resolved["reply"]
    view = await alert(crisis, alert_id)

    replayed = await text(crisis, number, f"RES {code} 4", message_id=message_id)

    assert replayed == {"reply": "", "replayed": True}
    assert await alert(crisis, alert_id) == view
    assert view["outcome"] == "safety_plan"


async def test_res_as_notify_asks_is_answered_in_the_staff_members_language(
    crisis: RunningCrisis, bus: Bus, database_url: str
) -> None:
    number = phone()
    alert_id, code, first = await paged(crisis, bus, [number, phone()], locale="fr-FR")
    settings = crisis.runtime.settings
    assert isinstance(settings, CrisisSettings)
    keys = list(settings.link_keys)

    listed = await ask(bus, keys, number, f"RES {code}")
    resolved = await ask(bus, keys, number, f"RES {code} 3")

    assert listed == {
        "outcome": "answered",
        "reply": f"Pour clore l’alerte {alert_id[:8]}, répondez RÉSOLU {code} et le chiffre de"
        " l’issue : 1 plan de sécurité, 2 orientée vers les urgences, 3 orientée vers"
        " l’hôpital, 4 police, 5 aucun risque constaté.",
    }
    assert resolved == {
        "outcome": "answered",
        "reply": f"Alerte {alert_id[:8]} close : Orientée vers l’hôpital.",
    }
    view = await alert(crisis, alert_id)
    assert (view["outcome"], view["resolved_by"]) == ("referred_hospital", str(first))
    assert [e[0] for e in await staff_entries(database_url, first)] == ["staff", "staff"]
