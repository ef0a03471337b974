"""When follow-ups fall due: the check-in series, no-show outreach and post-closure calls.

All arithmetic is calendar arithmetic in the client's IANA zone (see `add_in_zone`).
"""

from collections.abc import Iterator
from datetime import date, datetime, time
from itertools import count
from zoneinfo import ZoneInfo

from counseling_shared.codes import GoalHorizon
from followup.domain.durations import (
    CalendarDuration,
    add_in_zone,
    series_time,
    start_of_day_in_zone,
)
from followup.domain.policy import FollowUpPolicy
from followup.domain.preferences import FollowUpPreferences

POST_CLOSURE_ANCHOR = time(10, 0)
"""Post-closure check-ins count from this local time on `effective_on`, so none is due at night."""


def checkin_interval(
    policy: FollowUpPolicy, horizon: GoalHorizon, preferences: FollowUpPreferences
) -> CalendarDuration:
    every = policy.short_term_every if horizon is GoalHorizon.SHORT_TERM else policy.long_term_every
    return every.times(preferences.interval_factor)


def first_checkin_due(
    completed_at: datetime,
    policy: FollowUpPolicy,
    preferences: FollowUpPreferences,
    zone: ZoneInfo,
) -> datetime:
    after = policy.first_checkin_after.times(preferences.interval_factor)
    return add_in_zone(completed_at, after, zone)


def checkin_due(
    completed_at: datetime,
    policy: FollowUpPolicy,
    horizon: GoalHorizon,
    preferences: FollowUpPreferences,
    zone: ZoneInfo,
    n: int,
) -> datetime:
    """The `n`-th check-in (from 0) of a completed session's series, counted from its anchor
    (the first check-in's nominal local time), so the series never drifts (see `series_time`)."""
    first = policy.first_checkin_after.times(preferences.interval_factor)
    every = checkin_interval(policy, horizon, preferences)
    return series_time(completed_at, first, every, n, zone)


def checkin_series(
    completed_at: datetime,
    policy: FollowUpPolicy,
    horizon: GoalHorizon,
    preferences: FollowUpPreferences,
    zone: ZoneInfo,
) -> Iterator[datetime]:
    """Every check-in due time a completed session plans, in order (an endless series)."""
    for n in count():
        yield checkin_due(completed_at, policy, horizon, preferences, zone, n)


def checkin_due_after(
    completed_at: datetime,
    policy: FollowUpPolicy,
    horizon: GoalHorizon,
    preferences: FollowUpPreferences,
    zone: ZoneInfo,
    after: datetime,
) -> datetime:
    """The first check-in of the session's series strictly later than `after`.

    The series is what it would have been without a pause or downtime: occurrences that passed
    meanwhile are skipped, so the series catches up with one check-in, not with a burst.
    Occurrences grow with `n`, so a galloping then binary search finds it in O(log n) steps.
    """

    def due(n: int) -> datetime | None:
        try:
            return checkin_due(completed_at, policy, horizon, preferences, zone, n)
        except (OverflowError, ValueError):  # past year 9999: later than anything
            return None

    def is_after(n: int) -> bool:
        at = due(n)
        return at is None or at > after

    if is_after(0):
        return checkin_due(completed_at, policy, horizon, preferences, zone, 0)
    low, high = 0, 1
    while not is_after(high):
        if high > 1 << 48:  # an interval of nothing would never get past `after`
            raise OverflowError("the series does not move forward")
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if is_after(middle):
            high = middle
        else:
            low = middle
    found = due(high)
    if found is None:
        raise OverflowError("no check-in of this series falls before year 9999")
    return found


def resumed_checkin_due(
    completed_at: datetime,
    policy: FollowUpPolicy,
    horizon: GoalHorizon,
    preferences: FollowUpPreferences,
    zone: ZoneInfo,
    now: datetime,
) -> datetime:
    """After a pause: the first due time of the session's series that is still ahead."""
    return checkin_due_after(completed_at, policy, horizon, preferences, zone, now)


def next_checkin_ahead(
    completed_at: datetime,
    previous_due: datetime,
    policy: FollowUpPolicy,
    horizon: GoalHorizon,
    preferences: FollowUpPreferences,
    zone: ZoneInfo,
    now: datetime,
) -> datetime:
    """The check-in after `previous_due` in the series, and still ahead of `now`: when check-ins
    fall due late (downtime, an old session reported late), one check-in catches up."""
    after = max(previous_due, now)
    return checkin_due_after(completed_at, policy, horizon, preferences, zone, after)


def no_show_outreach_due(
    missed_start: datetime, policy: FollowUpPolicy, zone: ZoneInfo
) -> datetime:
    return add_in_zone(missed_start, policy.no_show_outreach_after, zone)


def post_closure_dues(effective_on: date, policy: FollowUpPolicy, zone: ZoneInfo) -> list[datetime]:
    """Each post-closure check-in, counted from `effective_on` at 10:00 in the client's zone."""
    anchor = start_of_day_in_zone(effective_on, POST_CLOSURE_ANCHOR, zone)
    return sorted(add_in_zone(anchor, after, zone) for after in policy.post_closure_checkins)
