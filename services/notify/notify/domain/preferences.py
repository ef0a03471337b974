"""A recipient's own delivery preferences, kept by notify (clients and staff alike)."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from counseling_shared.codes import Channel
from notify.domain.quiet_hours import QuietHours


@dataclass(frozen=True)
class PreferencesSet:
    """The recipient's preferences were replaced (a PUT: absent means none)."""

    recipient_id: UUID
    quiet_hours: QuietHours | None
    channel: Channel | None
    at: datetime


@dataclass(frozen=True)
class RecipientPreferences:
    """Quiet hours (local to the recipient) and a channel that overrides every other choice."""

    recipient_id: UUID
    quiet_hours: QuietHours | None = None
    channel: Channel | None = None
    updated_at: datetime | None = None
    version: int = 0


def set_preferences(
    state: RecipientPreferences | None,
    recipient_id: UUID,
    quiet_hours: QuietHours | None,
    channel: Channel | None,
    now: datetime,
) -> list[PreferencesSet]:
    """Replace the preferences; setting what is already set records nothing."""
    if state is not None and (state.quiet_hours, state.channel) == (quiet_hours, channel):
        return []
    return [PreferencesSet(recipient_id, quiet_hours, channel, now)]


def evolve(state: RecipientPreferences | None, event: PreferencesSet) -> RecipientPreferences:
    version = state.version if state is not None else 0
    return RecipientPreferences(
        recipient_id=event.recipient_id,
        quiet_hours=event.quiet_hours,
        channel=event.channel,
        updated_at=event.at,
        version=version + 1,
    )
