"""Contact-regularity notices: a contact gap emails the client's counselor, a negative contact
emails the site's supervisors (else its leads), and the `regularity` outreach reaches the client;
all on the bulk lane, against real PostgreSQL, NATS and the SMTP sink."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from counseling_shared.codes import FollowUpKind, StaffRole
from counseling_shared.events import ContactGapDetected, FollowUpDue, NegativeContactRecorded
from devstack.sinks import ReceivedEmail
from tests.notify.integration.conftest import Notify, eventually
from tests.notify.integration.test_delivery import settled

pytestmark = pytest.mark.integration


async def test_a_contact_gap_emails_the_counselor_in_their_language_naming_the_client_by_id(
    notify: Notify,
) -> None:
    site_id = await notify.new_site(timezone="Asia/Seoul")
    counselor = await notify.new_staff(site_id, locale="ko", role=StaffRole.COUNSELOR)
    other = await notify.new_staff(site_id, role=StaffRole.COUNSELOR)
    client_id = uuid4()

    await notify.publish(
        ContactGapDetected(
            client_id=client_id,
            site_id=site_id,
            counselor_id=counselor,
            last_positive_contact_at=datetime.now(UTC) - timedelta(days=10),
        ),
        source="followup",
        subject=client_id,
    )

    [row] = await settled(notify, counselor)
    assert (row["status"], row["template"], row["lane"], row["channel"]) == (
        "sent",
        "contact_gap",
        "bulk",
        "email",
    )
    [email] = [
        m for m in notify.sinks.smtp.messages if str(client_id)[:8] in str(m.message["Subject"])
    ]
    assert "최근 연락 없음" in str(email.message["Subject"])
    assert str(client_id) in email.body
    assert await notify.notifications(recipient_id=other) == []


async def test_a_negative_contact_emails_every_supervisor_of_the_site_and_no_counselor(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    supervisors = [await notify.new_staff(site_id, role=StaffRole.SUPERVISOR) for _ in range(2)]
    counselor = await notify.new_staff(site_id, role=StaffRole.COUNSELOR)
    client_id = uuid4()
    until = datetime.now(UTC) + timedelta(days=14)

    await notify.publish(
        NegativeContactRecorded(
            client_id=client_id, site_id=site_id, counselor_id=counselor, cooloff_until=until
        ),
        source="followup",
        subject=client_id,
    )

    for supervisor in supervisors:
        [row] = await settled(notify, supervisor)
        assert (row["status"], row["template"]) == ("sent", "negative_contact")
    assert await notify.notifications(recipient_id=counselor) == []


async def test_a_site_without_a_supervisor_tells_its_lead(notify: Notify) -> None:
    site_id = await notify.new_site()
    lead = await notify.new_staff(site_id, role=StaffRole.SITE_LEAD)
    client_id = uuid4()
    await notify.publish(
        NegativeContactRecorded(client_id=client_id, site_id=site_id),
        source="followup",
        subject=client_id,
    )
    [row] = await settled(notify, lead)
    assert row["template"] == "negative_contact"


async def test_the_regularity_outreach_reaches_the_client(notify: Notify) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    address = f"client-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, locale="en")
    await notify.publish(
        FollowUpDue(
            followup_id=uuid4(),
            client_id=client_id,
            site_id=site_id,
            kind=FollowUpKind.REGULARITY,
            due_at=datetime.now(UTC),
        ),
        source="followup",
        subject=client_id,
    )
    [row] = await settled(notify, client_id)
    assert (row["status"], row["kind"]) == ("sent", "regularity")
    emails = await eventually(lambda: _emails_to(notify, address))
    assert emails[0].message["Subject"] == "Thinking of you"


async def _emails_to(notify: Notify, address: str) -> list[ReceivedEmail]:
    return [m for m in notify.sinks.smtp.messages if address in m.rcpt_tos]
