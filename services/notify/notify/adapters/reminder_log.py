"""Keeps each appointment reminder sent by SMS or messaging (`sms_reminders`), by the keyed
digest of the number it went to, so the client's C/X reply from that number can act on it.

Wraps the channel's provider: recorded once the provider took the message, by the number it
went to (the one the client would reply from). A failure to record is logged, not retried:
the message is sent all the same and the reply gets "no reminder" (the link still works).
"""

from collections.abc import Sequence
from typing import Any

import asyncpg

from counseling_shared.clock import Clock
from counseling_shared.logs import get_logger
from notify.adapters import sms_reminders
from notify.adapters.sms_reminders import SentReminder
from notify.application.ports import ChannelProvider, OutgoingMessage
from notify.domain.codes import AttemptOutcome
from notify.domain.notification import DeliveryOutcome

log = get_logger(__name__)


class ReminderLog:
    def __init__(
        self,
        provider: ChannelProvider,
        pool: "asyncpg.Pool[Any]",
        keys: Sequence[str],
        clock: Clock,
    ) -> None:
        self._provider = provider
        self._pool = pool
        self._keys = keys
        self._clock = clock

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        outcome = await self._provider.send(message)
        reminded = message.reminder
        if reminded is None or outcome.kind is not AttemptOutcome.SENT:
            return outcome
        sent = SentReminder(
            message.notification_id,
            reminded.appointment_id,
            reminded.client_id,
            reminded.start,
            reminded.locale,
            reminded.timezone,
            self._clock.now(),
        )
        try:
            async with self._pool.acquire() as conn:
                await sms_reminders.remember(conn, self._keys, message.to, sent)
        except Exception as exc:  # sent is sent: the reply will find no reminder
            log.warning(
                "sms_reminder_unrecorded",
                notification_id=str(message.notification_id),
                error=type(exc).__name__,
            )
        return outcome
