"""Without `INBOUND_SMS_SECRET` no reply reaches notify: a reminder by text does not ask for
one (it keeps the link) and nothing is kept for replies."""

import pytest

from tests.notify.integration.conftest import Notify, eventually
from tests.notify.integration.test_reminder_replies import remind_unkept

pytestmark = pytest.mark.integration


async def test_no_inbound_webhook_no_reply_instructions_and_nothing_kept(notify: Notify) -> None:
    reminded = await remind_unkept(notify, "+33661234567")
    # Recorded sent: a row for replies would have been written before that (ReminderLog).
    await eventually(
        lambda: notify.notifications(recipient_id=reminded.client_id, status="sent"), timeout=15
    )

    assert "Reply C" not in reminded.text
    assert "/manage?token=t0k" in reminded.text
    assert await notify.pool.fetchval("SELECT count(*) FROM sms_reminders") == 0
