"""A recipient's preferences: replaced as a whole, unchanged ones record nothing."""

from datetime import UTC, datetime, time
from uuid import uuid4

from counseling_shared.codes import Channel
from notify.domain.preferences import evolve, set_preferences
from notify.domain.quiet_hours import QuietHours

NOW = datetime(2025, 1, 1, tzinfo=UTC)
NIGHT = QuietHours(time(21), time(8))


def test_setting_preferences_records_them_and_setting_them_again_records_nothing() -> None:
    recipient = uuid4()
    [first] = set_preferences(None, recipient, NIGHT, Channel.SMS, NOW)
    state = evolve(None, first)
    assert (state.quiet_hours, state.channel, state.version) == (NIGHT, Channel.SMS, 1)
    assert set_preferences(state, recipient, NIGHT, Channel.SMS, NOW) == []


def test_a_put_without_quiet_hours_clears_them() -> None:
    recipient = uuid4()
    state = evolve(None, set_preferences(None, recipient, NIGHT, None, NOW)[0])
    [cleared] = set_preferences(state, recipient, None, None, NOW)
    assert evolve(state, cleared).quiet_hours is None
    assert evolve(state, cleared).version == 2
