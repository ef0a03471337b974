"""`sms_reminders`: each reminder sent by SMS or messaging, by the keyed digest of the number it
went to (migration 0009), so a C/X reply from that number finds its appointment."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from counseling_shared.pruner import PruneTarget
from notify.adapters.opt_outs import digests
from notify.domain.phones import key_fingerprint

if TYPE_CHECKING:
    import asyncpg

    from counseling_shared.db import Connection

    Conn = Connection | asyncpg.Pool[Any]

KEPT_AFTER_START = timedelta(days=1)
"""A reminder's row outlives its appointment's start this long when the next reminder is
written (the pruner deletes it at the start: `PRUNE_TARGET`)."""

PRUNE_TARGET = PruneTarget("sms_reminders", "appointment_start < $1", timedelta(0), clocked=True)
"""A reminder whose appointment has started takes no more replies (`latest_for`): its row
(a number's digest, a client, an appointment) is deleted by the pruner's next round, on the
service's clock (the start is the event's, not the database's), even for a number that gets
no more reminders."""

MOST_CLIENTS = 100
"""Clients whose reminders to one number are weighed for a reply (a care home's phone may
have many; two are enough to act on nothing)."""

Fee = tuple[str, str]
"""A late-cancellation fee as booking answers it: amount (a decimal string), ISO 4217 code."""


@dataclass(frozen=True)
class SentReminder:
    notification_id: UUID
    appointment_id: UUID
    client_id: UUID
    appointment_start: datetime
    locale: str
    timezone: str
    sent_at: datetime
    cancel_asked_at: datetime | None = None
    announced_fee: Fee | None = None  # with `cancel_asked_at`: the fee then announced


async def remember(conn: "Conn", keys: Sequence[str], phone: str, sent: SentReminder) -> None:
    """Record a reminder that went to `phone` (its digest under the current key); prune the
    rows whose appointment started more than a day ago."""
    await conn.execute(
        """WITH pruned AS (DELETE FROM sms_reminders WHERE appointment_start < $10)
           INSERT INTO sms_reminders (notification_id, phone_digest, digest_key, appointment_id,
               client_id, appointment_start, locale, timezone, sent_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (notification_id) DO UPDATE
               SET phone_digest = $2, digest_key = $3, sent_at = $9""",
        sent.notification_id,
        digests(keys, phone)[0],
        key_fingerprint(keys[0]),
        sent.appointment_id,
        sent.client_id,
        sent.appointment_start,
        sent.locale,
        sent.timezone,
        sent.sent_at,
        sent.sent_at - KEPT_AFTER_START,
    )


async def latest_for(
    conn: "Conn", keys: Sequence[str], phone: str, now: datetime
) -> SentReminder | None:
    """The most recent reminder sent to `phone` whose appointment has not started."""
    found = await latest_by_client(conn, keys, phone, now)
    return found[0] if found else None


async def latest_by_client(
    conn: "Conn", keys: Sequence[str], phone: str, now: datetime
) -> list[SentReminder]:
    """Each client's most recent reminder sent to `phone` whose appointment has not started,
    the most recent first (several: a phone shared by a household), at most `MOST_CLIENTS`
    (booking's directory answers that many at once)."""
    rows = await conn.fetch(
        """SELECT * FROM (
               SELECT DISTINCT ON (client_id) * FROM sms_reminders
               WHERE phone_digest = ANY($1::text[]) AND appointment_start > $2
               ORDER BY client_id, sent_at DESC, notification_id DESC) latest
           ORDER BY sent_at DESC, notification_id DESC LIMIT $3""",
        digests(keys, phone),
        now,
        MOST_CLIENTS,
    )
    return [
        SentReminder(
            row["notification_id"],
            row["appointment_id"],
            row["client_id"],
            row["appointment_start"],
            row["locale"],
            row["timezone"],
            row["sent_at"],
            row["cancel_asked_at"],
            _fee(row["announced_fee_amount"], row["announced_fee_currency"]),
        )
        for row in rows
    ]


def _fee(amount: str | None, currency: str | None) -> Fee | None:
    return (amount, currency) if amount is not None and currency is not None else None


async def note_cancel_asked(
    conn: "Conn", notification_id: UUID, at: datetime | None, fee: Fee | None = None
) -> None:
    """A late X was answered with `fee` (None: late, no fee) at `at`, or that is over (None)."""
    amount, currency = fee if fee is not None and at is not None else (None, None)
    await conn.execute(
        """UPDATE sms_reminders
           SET cancel_asked_at = $2, announced_fee_amount = $3, announced_fee_currency = $4
           WHERE notification_id = $1""",
        notification_id,
        at,
        amount,
        currency,
    )
