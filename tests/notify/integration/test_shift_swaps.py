"""On-call shift swaps in notify: the colleagues offered a shift are emailed in their own
language and their site's zone (bulk lane, never the crisis lane), and the requester hears when
it is taken. The real consumer, from the CRISIS stream, to the test SMTP sink."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from counseling_shared.events import ShiftSwapRequested, ShiftSwapTaken
from tests.notify.integration.conftest import Notify
from tests.notify.integration.test_delivery import settled

pytestmark = pytest.mark.integration

START = datetime(2030, 3, 9, 22, 0, tzinfo=UTC)  # 17:00 in New York, before summer time
END = datetime(2030, 3, 10, 14, 0, tzinfo=UTC)  # 10:00 in New York, after it


async def test_each_colleague_offered_the_shift_is_emailed_and_the_requester_when_taken(
    notify: Notify,
) -> None:
    site_id = await notify.new_site(timezone="America/New_York")
    requester = await notify.new_staff(site_id, locale="en")
    offered = [await notify.new_staff(site_id, locale="fr"), await notify.new_staff(site_id)]
    bystander = await notify.new_staff(site_id, locale="ko")
    requested = ShiftSwapRequested(
        swap_request_id=uuid4(),
        schedule_id=uuid4(),
        site_id=site_id,
        requester_id=requester,
        offered_to=offered,
        start=START,
        end=END,
    )
    await notify.publish(requested, source="crisis", subject=requested.swap_request_id)

    for staff_id in offered:
        [row] = await settled(notify, staff_id)
        assert (row["status"], row["template"], row["channel"], row["lane"]) == (
            "sent",
            "shift_swap_requested",
            "email",
            "bulk",
        )
    french, english = (
        [m for m in notify.sinks.smtp.messages if f"oncall-{s.hex[:8]}@" in m.rcpt_tos[0]]
        for s in offered
    )
    assert "samedi 9 mars 2030, 17:00" in french[0].body
    assert "dimanche 10 mars 2030, 10:00" in french[0].body
    assert "Saturday, March 9, 2030, 5:00\u202fPM" in english[0].body
    assert str(requested.swap_request_id) in english[0].body
    assert await notify.notifications(recipient_id=requester) == []
    assert await notify.notifications(recipient_id=bystander) == []

    taken = ShiftSwapTaken(**requested.model_dump(), taken_by=offered[1], override_id=uuid4())
    await notify.publish(taken, source="crisis", subject=requested.swap_request_id)

    [row] = await settled(notify, requester)
    assert (row["status"], row["template"], row["lane"]) == ("sent", "shift_swap_taken", "bulk")
    [to_requester] = [
        m for m in notify.sinks.smtp.messages if f"oncall-{requester.hex[:8]}@" in m.rcpt_tos[0]
    ]
    assert "took your on-call shift" in to_requester.body


async def test_the_taker_is_told_they_are_on_call_in_their_language_and_zone(
    notify: Notify,
) -> None:
    """An admin may accept for a staff member: the taker hears it from notify, not from crisis."""
    site_id = await notify.new_site(timezone="America/New_York")
    requester = await notify.new_staff(site_id, locale="en")
    taker = await notify.new_staff(site_id, locale="fr")
    taken = ShiftSwapTaken(
        swap_request_id=uuid4(),
        schedule_id=uuid4(),
        site_id=site_id,
        requester_id=requester,
        offered_to=[taker],
        start=START,
        end=END,
        taken_by=taker,
        override_id=uuid4(),
    )
    await notify.publish(taken, source="crisis", subject=taken.swap_request_id)

    [row] = await settled(notify, taker)
    assert (row["status"], row["template"], row["channel"], row["lane"]) == (
        "sent",
        "shift_swap_on_call",
        "email",
        "bulk",
    )
    [to_taker] = [
        m for m in notify.sinks.smtp.messages if f"oncall-{taker.hex[:8]}@" in m.rcpt_tos[0]
    ]
    assert "Vous êtes d'astreinte du samedi 9 mars 2030, 17:00" in to_taker.body
    assert "dimanche 10 mars 2030, 10:00" in to_taker.body
    assert "à la place de Dr. On Call" in to_taker.body
    assert str(taken.swap_request_id) in to_taker.body
    [to_requester] = await settled(notify, requester)
    assert to_requester["template"] == "shift_swap_taken"
