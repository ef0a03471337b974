"""When follow-ups fall due: the check-in series, no-show outreach and post-closure calls.

All arithmetic is calendar arithmetic in the client's IANA zone (see `add_in_zone`).
"""

from collections.abc import Iterator
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from counseling_shared.codes import GoalHorizon
from followup.domain.durations import CalendarDuration, add_in_zone, start_of_day_in_zone
from followup.domain.policy import FollowUpPolicy
from followup.domain.preferences import FollowUpPreferences

POST_CLOSURE_ANCHOR = time(10, 0)
"""Post-closure check-ins count from this local time on `effective_on`, so none is due at night."""

RESUME_SEARCH_LIMIT = 10_000


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


def next_checkin_due(
    previous_due: datetime,
    policy: FollowUpPolicy,
    horizon: GoalHorizon,
    preferences: FollowUpPreferences,
    zone: ZoneInfo,
) -> datetime:
    """The rolling plan: the next check-in is one interval after the previous one's due time."""
    return add_in_zone(previous_due, checkin_interval(policy, horizon, preferences), zone)


def next_checkin_ahead(
    previous_due: datetime,
    policy: FollowUpPolicy,
    horizon: GoalHorizon,
    preferences: FollowUpPreferences,
    zone: ZoneInfo,
    now: datetime,
) -> datetime:
    """The next check-in after `previous_due` that is still ahead of `now`.

    When check-ins fall due late (the service was down, or an old session was reported late),
    the series catches up with one check-in, not with every occurrence that passed meanwhile.
    """
    due = next_checkin_due(previous_due, policy, horizon, preferences, zone)
    for _ in range(RESUME_SEARCH_LIMIT):
        if due > now:
            return due
        due = next_checkin_due(due, policy, horizon, preferences, zone)
    return add_in_zone(now, checkin_interval(policy, horizon, preferences), zone)


def checkin_series(
    completed_at: datetime,
    policy: FollowUpPolicy,
    horizon: GoalHorizon,
    preferences: FollowUpPreferences,
    zone: ZoneInfo,
) -> Iterator[datetime]:
    """Every check-in due time a completed session plans, in order (an endless series)."""
    due = first_checkin_due(completed_at, policy, preferences, zone)
    while True:
        yield due
        due = next_checkin_due(due, policy, horizon, preferences, zone)


def resumed_checkin_due(
    completed_at: datetime,
    policy: FollowUpPolicy,
    horizon: GoalHorizon,
    preferences: FollowUpPreferences,
    zone: ZoneInfo,
    now: datetime,
) -> datetime:
    """After a pause: the first due time of the session's series that is still ahead.

    The series is what it would have been without the pause; occurrences that passed while
    paused are skipped. A very long pause with a very short interval restarts one interval
    from now rather than walking the whole series.
    """
    for step, due in enumerate(checkin_series(completed_at, policy, horizon, preferences, zone)):
        if due > now:
            return due
        if step >= RESUME_SEARCH_LIMIT:
            break
    return add_in_zone(now, checkin_interval(policy, horizon, preferences), zone)


def no_show_outreach_due(
    missed_start: datetime, policy: FollowUpPolicy, zone: ZoneInfo
) -> datetime:
    return add_in_zone(missed_start, policy.no_show_outreach_after, zone)


def post_closure_dues(effective_on: date, policy: FollowUpPolicy, zone: ZoneInfo) -> list[datetime]:
    """Each post-closure check-in, counted from `effective_on` at 10:00 in the client's zone."""
    anchor = start_of_day_in_zone(effective_on, POST_CLOSURE_ANCHOR, zone)
    return sorted(add_in_zone(anchor, after, zone) for after in policy.post_closure_checkins)
