"""The client's side of follow-up in notify: the answer link reaches the client, a callback
request and an elevated score reach the counselor, a missed-session fee is stated in the
client's language."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest

from counseling_shared.codes import FollowUpKind, Instrument, MeasureBand
from counseling_shared.events import (
    CallbackRequested,
    FeeDue,
    FollowUpDue,
    MeasureRecorded,
    SessionMissed,
)
from tests.notify.integration.conftest import Notify
from tests.notify.integration.test_delivery import settled

pytestmark = pytest.mark.integration


async def test_a_checkin_email_carries_the_clients_answer_link(notify: Notify) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    address = f"answer-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, locale="ko", timezone="Asia/Seoul")
    url = f"https://followup.example/followups/{uuid4()}/response?token=abc.def"
    due = FollowUpDue(
        followup_id=uuid4(),
        client_id=client_id,
        site_id=site_id,
        kind=FollowUpKind.CHECKIN,
        due_at=datetime.now(UTC),
        response_url=url,
    )
    await notify.publish(due, source="followup", subject=client_id)

    [row] = await settled(notify, client_id)
    assert row["status"] == "sent"
    [email] = [m for m in notify.sinks.smtp.messages if address in m.rcpt_tos]
    assert url in email.body
    assert "짧은 설문" in email.body


async def test_a_callback_request_emails_the_counselor_naming_the_client_by_id_only(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    counselor_id = await notify.new_staff(site_id, locale="fr")
    client_id = uuid4()
    event = CallbackRequested(
        client_id=client_id, site_id=site_id, counselor_id=counselor_id, followup_id=uuid4()
    )
    await notify.publish(event, source="followup", subject=client_id)

    [row] = await settled(notify, counselor_id)
    assert (row["status"], row["template"], row["channel"]) == (
        "sent",
        "callback_requested",
        "email",
    )
    [email] = [m for m in notify.sinks.smtp.messages if m.message["Subject"].endswith("contacté")]
    assert str(client_id) in email.body


async def test_a_score_of_ten_or_more_emails_the_counselor_and_a_lower_one_does_not(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    counselor_id = await notify.new_staff(site_id, locale="en")
    client_id = uuid4()
    scores = [
        (Instrument.GAD7, 9, MeasureBand.MILD),  # below the cut-off: the progress page only
        (Instrument.PHQ9, 17, MeasureBand.MODERATELY_SEVERE),
    ]
    for instrument, score, band in scores:  # one durable, in order: the mild one comes first
        measured = MeasureRecorded(
            client_id=client_id,
            site_id=site_id,
            followup_id=uuid4(),
            instrument=instrument,
            score=score,
            band=band,
            counselor_id=counselor_id,
        )
        await notify.publish(measured, source="followup", subject=client_id)

    [row] = await settled(notify, counselor_id)
    assert (row["status"], row["template"], row["channel"], row["lane"]) == (
        "sent",
        "elevated_score",
        "email",
        "bulk",
    )
    [email] = [m for m in notify.sinks.smtp.messages if str(client_id) in m.body]
    assert "score to review" in email.message["Subject"]
    assert "17 out of 27" not in email.message["Subject"]  # a locked screen shows the subject
    assert "17 out of 27" in email.body
    assert "PHQ-9 (depression)" in email.body
    assert "moderately severe" in email.body
    assert str(client_id) in email.body


async def test_the_review_followup_decided_is_followed_whatever_the_band(notify: Notify) -> None:
    """followup sets `counselor_review` from the site's `notify_counselor_from_band`: a site
    reviewing from `severe` (or never) gets no email for a severe-looking band it declined, and
    one for a score it asked for. Events without the field keep the fixed rule (test above)."""
    site_id = await notify.new_site()
    counselor_id = await notify.new_staff(site_id, locale="en")
    client_id = uuid4()
    scores = [
        (Instrument.PHQ9, 24, MeasureBand.SEVERE, False),  # the site said never: no email
        (Instrument.GAD7, 12, MeasureBand.MODERATE, False),  # the site reviews from severe
        (Instrument.GAD7, 16, MeasureBand.SEVERE, True),
    ]
    for instrument, score, band, review in scores:  # one durable, in order
        measured = MeasureRecorded(
            client_id=client_id,
            site_id=site_id,
            followup_id=uuid4(),
            instrument=instrument,
            score=score,
            band=band,
            counselor_id=counselor_id,
            counselor_review=review,
        )
        await notify.publish(measured, source="followup", subject=client_id)

    [row] = await settled(notify, counselor_id)
    assert (row["status"], row["template"]) == ("sent", "elevated_score")
    [email] = [m for m in notify.sinks.smtp.messages if str(client_id) in m.body]
    assert "16 out of 21" in email.body


async def test_a_no_show_with_a_fee_tells_the_client_the_amount_in_their_language(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    address = f"fee-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, locale="ru", timezone="Europe/Moscow")
    start = datetime(2030, 5, 14, 6, 0, tzinfo=UTC)
    for fee in (None, FeeDue(amount=Decimal("40.00"), currency="EUR")):
        missed = SessionMissed(
            appointment_id=uuid4(),
            site_id=site_id,
            client_id=client_id,
            counselor_id=uuid4(),
            start=start + timedelta(days=1 if fee else 0),
            fee_due=fee,
        )
        await notify.publish(missed, source="booking", subject=client_id)

    [row] = await settled(notify, client_id)  # the no-show without a fee sends nothing
    assert (row["status"], row["template"]) == ("sent", "missed_session_fee")
    [email] = [m for m in notify.sinks.smtp.messages if address in m.rcpt_tos]
    assert "40,00\u00a0€" in email.body
    assert "15 мая 2030" in email.message["Subject"]
