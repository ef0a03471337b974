"""Setting a recipient's preferences (PUT /recipients/{id}/preferences)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from counseling_shared.clock import Clock
from counseling_shared.codes import Channel
from counseling_shared.eventstore import ConcurrencyConflict
from counseling_shared.unit_of_work import unit_of_work
from notify.adapters import notification_store, preference_store
from notify.domain import notification as rules
from notify.domain.preferences import RecipientPreferences, set_preferences
from notify.domain.quiet_hours import QuietHours

SOURCE = "notify"


async def set_recipient_preferences(
    pool: asyncpg.Pool[Any],
    clock: Clock,
    recipient_id: UUID,
    quiet_hours: QuietHours | None,
    channel: Channel | None,
) -> RecipientPreferences:
    """Replace the preferences. Messages held for the old quiet hours are looked at again at
    once (and held again if the new window still covers now). Two racing writers: the loser
    retries once on the winner's version."""
    for attempt in (1, 2):
        try:
            async with unit_of_work(pool, source=SOURCE, clock=clock) as uow:
                state = await preference_store.load(uow.conn, recipient_id)
                events = set_preferences(state, recipient_id, quiet_hours, channel, uow.now())
                saved = await preference_store.record(uow.conn, state, recipient_id, events)
                if events:
                    await _reconsider_held(uow.conn, recipient_id, clock)
                return saved or RecipientPreferences(recipient_id)
        except ConcurrencyConflict:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _reconsider_held(conn: Any, recipient_id: UUID, clock: Clock) -> None:
    now = clock.now()
    held = await notification_store.idle_held_notifications(conn, recipient_id, now)
    for waiting in held:
        events = rules.expedite(waiting, now, reason="preferences_changed")
        if events:
            await notification_store.record(conn, waiting, events)
            await notification_store.wake(conn, waiting.lane)
