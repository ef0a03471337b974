# ruff: noqa: RUF001  (French answers: the apostrophes are meant)
"""Replies to a page in the staff member's language (crisis's own `POST /inbound/sms`, and as
notify asks over `crisis.staff_replies`): the French, Korean and Russian words acknowledge and
resolve as ACK and RES do, whatever their case and accents; ACK and RES still work from
everyone; an ordinary "ok" is not an acknowledgement."""

from collections.abc import AsyncIterator

import pytest

from crisis.settings import CrisisSettings
from tests.crisis.integration.harness import Bus, RunningCrisis, StartCrisis
from tests.crisis.integration.steps import alert
from tests.crisis.integration.test_inbound_sms_replays import SECRET, text
from tests.crisis.integration.test_resolve_by_text import paged
from tests.crisis.integration.test_staff_replies_bus import ask
from tests.crisis.integration.test_twilio_replays import phone

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def crisis(start_crisis: StartCrisis) -> AsyncIterator[RunningCrisis]:
    async with start_crisis(INBOUND_SMS_SECRET=SECRET) as running:
        yield running


async def test_a_french_member_takes_the_alert_with_pris_and_is_answered_in_french(
    crisis: RunningCrisis, bus: Bus
) -> None:
    number = phone()
    alert_id, code, first = await paged(crisis, bus, [number, phone()], locale="fr-FR")

    acked = await text(crisis, number, f"Pris {code.lower()}")

    assert acked["reply"] == f"Alerte {alert_id[:8]} prise en charge. L’escalade est arrêtée."
    view = await alert(crisis, alert_id)
    assert (view["status"], view["acknowledged_by"]) == ("acknowledged", str(first))
    listed = await text(crisis, number, f"résolu {code}")
    assert listed["reply"].startswith(f"Pour clore l’alerte {alert_id[:8]}, répondez RÉSOLU")
    resolved = await text(crisis, number, f"RESOLU {code} 1")
    assert resolved["reply"].startswith(f"Alerte {alert_id[:8]} close")
    assert (await alert(crisis, alert_id))["outcome"] == "safety_plan"


async def test_korean_and_russian_words_act_as_notify_asks_and_ack_works_for_everyone(
    crisis: RunningCrisis, bus: Bus
) -> None:
    settings = crisis.runtime.settings
    assert isinstance(settings, CrisisSettings)
    keys = list(settings.link_keys)
    korean, russian, english = phone(), phone(), phone()
    ko_alert, ko_code, _ = await paged(crisis, bus, [korean, phone()], locale="ko-KR")
    ru_alert, ru_code, _ = await paged(crisis, bus, [russian, phone()], locale="ru-RU")
    fr_alert, fr_code, _ = await paged(crisis, bus, [english, phone()], locale="fr-FR")

    resolved = await ask(bus, keys, korean, f"해결 {ko_code} 5")
    taken = await ask(bus, keys, russian, f"принято {ru_code}")
    in_english = await ask(bus, keys, english, f"ACK {fr_code}")

    assert resolved["outcome"] == taken["outcome"] == in_english["outcome"] == "answered"
    assert (await alert(crisis, ko_alert))["outcome"] == "no_risk_found"
    assert (await alert(crisis, ru_alert))["status"] == "acknowledged"
    assert (await alert(crisis, fr_alert))["status"] == "acknowledged"


async def test_an_ordinary_ok_does_not_take_the_alert(crisis: RunningCrisis, bus: Bus) -> None:
    number = phone()
    alert_id, code, _ = await paged(crisis, bus, [number, phone()], locale="fr-FR")

    answered = await text(crisis, number, f"OK {code}")

    # How to reply (in English: a text that names no page is answered before the sender is
    # looked up, as before).
    assert answered["reply"].startswith("Reply ACK and the code")
    assert (await alert(crisis, alert_id))["status"] == "open"
