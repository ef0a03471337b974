"""What is wrong with an escalation policy as it stands: lines an operator reads with it.

Pure: the caller says which staff booking has deactivated. A level's schedules are resolved only
when it is paged, so a level with schedules is never said to page nobody here (the on-call
look-ahead, `crisis_oncall_empty_hours`, watches the schedules themselves).
"""

from collections.abc import Collection
from datetime import timedelta
from uuid import UUID

from crisis.domain.durations import format_duration
from crisis.domain.policy import EscalationPolicy, PolicyLevel

NO_FALLBACK = "fallback_staff_ids is empty: when the chain is exhausted nobody more is paged"
FALLBACK_ALL_DEACTIVATED = (
    "fallback: everyone is deactivated, nobody more is paged when the chain is exhausted"
)

TEXTS_STOPPED = "texted STOP to the paging number: paged by email only until they text START"

ROUND_ROBIN_ONE_PERSON = (
    "round robin with one person and no schedule: they are paged for every alert;"
    " name more people (or a schedule) to share the load"
)
ROUND_ROBIN_LONG_WAIT = timedelta(minutes=15)
"""A round-robin level pages one person: longer than this, a crisis waits on one phone."""


def policy_warnings(
    policy: EscalationPolicy,
    inactive: Collection[UUID] = (),
    texts_stopped: Collection[UUID] = (),
) -> list[str]:
    """One line per gap: a level's call that waits out its whole ack_timeout, each deactivated
    person, each level (and the fallback) left with
    nobody, a fallback that pages nobody when the chain is exhausted, and each person named
    who texted STOP (paged by email only: one channel left, and the slower one)."""
    warnings: list[str] = []
    for n, level in enumerate(policy.levels, start=1):
        warnings += [f"level {n}: {line}" for line in _round_robin_warnings(level)]
        warnings += [f"level {n}: {line}" for line in _call_after_warnings(level)]
        gone = [staff for staff in level.staff_ids if staff in inactive]
        warnings += [f"level {n}: {staff} is deactivated and will be skipped" for staff in gone]
        warnings += [
            f"level {n}: {staff} {TEXTS_STOPPED}"
            for staff in level.staff_ids
            if staff in texts_stopped and staff not in inactive
        ]
        if not gone or len(gone) < len(level.staff_ids):
            continue  # someone named is still paged (or nobody named was deactivated)
        if level.schedule_ids:
            warnings.append(
                f"level {n}: every staff member named is deactivated; only whoever its"
                " schedules have on call is paged"
            )
        else:
            warnings.append(f"level {n}: everyone is deactivated, nobody is paged at this level")
    fallback = policy.fallback_staff_ids
    gone = [staff for staff in fallback if staff in inactive]
    warnings += [f"fallback: {staff} is deactivated and will be skipped" for staff in gone]
    warnings += [
        f"fallback: {staff} {TEXTS_STOPPED}"
        for staff in fallback
        if staff in texts_stopped and staff not in inactive
    ]
    if not fallback:
        warnings.append(NO_FALLBACK)
    elif len(gone) == len(fallback):
        warnings.append(FALLBACK_ALL_DEACTIVATED)
    return warnings


def _round_robin_warnings(level: PolicyLevel) -> list[str]:
    """A round-robin level pages one person per alert: say when that shares nothing, or leaves
    a crisis waiting long on a single person before the next level."""
    if not level.round_robin:
        return []
    lines = []
    if len(level.staff_ids) <= 1 and not level.schedule_ids:
        lines.append(ROUND_ROBIN_ONE_PERSON)
    if level.ack_timeout > ROUND_ROBIN_LONG_WAIT:
        lines.append(
            f"round robin pages one person, who has {format_duration(level.ack_timeout)} to"
            " acknowledge before the next level is paged; a shorter ack_timeout escalates sooner"
        )
    return lines


def _call_after_warnings(level: PolicyLevel) -> list[str]:
    """A call that waits the level's whole `ack_timeout` rings as the next level is paged: the
    person called has been passed over already (and an acknowledgement withdraws it anyway)."""
    if level.call_after is None or level.call_after < level.ack_timeout:
        return []
    return [
        f"call_after {format_duration(level.call_after)} is not shorter than ack_timeout"
        f" {format_duration(level.ack_timeout)}: the call comes only as the next level is"
        " paged; a shorter call_after calls while this level can still acknowledge"
    ]
