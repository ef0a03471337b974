"""A site's escalation policy: who is paged, in which order, and how long each level has."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from crisis.domain.durations import InvalidDuration, parse_duration

MIN_ACK_TIMEOUT = timedelta(seconds=1)
MAX_ACK_TIMEOUT = timedelta(days=1)
MAX_LEVELS = 10
MAX_REPEAT = 10
MIN_ACK_EXPIRES_AFTER = timedelta(minutes=1)
MAX_ACK_EXPIRES_AFTER = timedelta(days=30)


@dataclass(frozen=True)
class PolicyLevel:
    """One rung of the ladder: the staff paged together, and how long they have to acknowledge.

    `schedule_ids` are resolved to whoever is on call at the moment the level is paged, and
    paged with `staff_ids`. `round_robin`: only one of them is paged, each alert the next in
    turn (domain/round_robin.py). `call_after`: how long after its page a page's phone call
    follows (notify's PAGE_CALL_DELAY when None).
    """

    staff_ids: tuple[UUID, ...]
    ack_timeout: timedelta
    schedule_ids: tuple[UUID, ...] = ()
    round_robin: bool = False
    call_after: timedelta | None = None


@dataclass(frozen=True)
class EscalationPolicy:
    """A site's on-call ladder.

    `repeat` is how many more times the whole chain runs after the first pass: 0 pages each level
    once, the default 1 runs the chain twice in all. Alerts freeze a copy when they open.
    """

    levels: tuple[PolicyLevel, ...]
    repeat: int = 1
    fallback_staff_ids: tuple[UUID, ...] = ()
    """Paged once when the chain is exhausted (the alert then stays open, `exhausted`)."""
    ack_expires_after: timedelta | None = None
    """How long an acknowledgement holds an unresolved alert: then it re-opens and its
    acknowledger is paged again (None: it holds until resolved)."""

    def level(self, number: int) -> PolicyLevel:
        """Level `number`, 1-based as staff and the contract count them."""
        return self.levels[number - 1]

    @property
    def passes(self) -> int:
        return self.repeat + 1


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class InvalidPolicy(ValueError):
    """The policy breaks a rule; `errors` names each offending field."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = list(errors)


@dataclass(frozen=True)
class LevelDraft:
    """A level as an operator wrote it, before the rules are checked."""

    staff_ids: Sequence[UUID]
    ack_timeout: str
    schedule_ids: Sequence[UUID] = ()
    round_robin: bool = False
    call_after: str | None = None


def escalation_policy(
    levels: Sequence[LevelDraft],
    repeat: int = 1,
    fallback_staff_ids: Sequence[UUID] = (),
    ack_expires_after: str | None = None,
) -> EscalationPolicy:
    """Check an operator's draft and build the policy, or raise `InvalidPolicy` naming fields."""
    errors: list[FieldError] = []
    if not levels:
        errors.append(FieldError("levels", "at least one level is needed"))
    if len(levels) > MAX_LEVELS:
        errors.append(FieldError("levels", f"at most {MAX_LEVELS} levels"))
    if not 0 <= repeat <= MAX_REPEAT:
        errors.append(FieldError("repeat", f"must be between 0 and {MAX_REPEAT}"))
    built: list[PolicyLevel] = []
    for i, draft in enumerate(levels):
        where = f"levels.{i}"
        if not draft.staff_ids and not draft.schedule_ids:
            errors.append(
                FieldError(f"{where}.staff_ids", "at least one staff member or schedule is needed")
            )
        if len(set(draft.staff_ids)) != len(draft.staff_ids):
            errors.append(FieldError(f"{where}.staff_ids", "a staff member is listed twice"))
        if len(set(draft.schedule_ids)) != len(draft.schedule_ids):
            errors.append(FieldError(f"{where}.schedule_ids", "a schedule is listed twice"))
        try:
            timeout = parse_duration(draft.ack_timeout)
        except InvalidDuration as exc:
            errors.append(FieldError(f"{where}.ack_timeout", str(exc)))
            continue
        if not MIN_ACK_TIMEOUT <= timeout <= MAX_ACK_TIMEOUT:
            errors.append(FieldError(f"{where}.ack_timeout", "must be between PT1S and P1D"))
        built.append(
            PolicyLevel(
                tuple(draft.staff_ids),
                timeout,
                tuple(draft.schedule_ids),
                draft.round_robin,
                _call_after(draft.call_after, timeout, f"{where}.call_after", errors),
            )
        )
    if len(set(fallback_staff_ids)) != len(fallback_staff_ids):
        errors.append(FieldError("fallback_staff_ids", "a staff member is listed twice"))
    expires = _ack_expires_after(ack_expires_after, errors)
    if errors:
        raise InvalidPolicy(errors)
    return EscalationPolicy(tuple(built), repeat, tuple(fallback_staff_ids), expires)


def _call_after(
    text: str | None, ack_timeout: timedelta, where: str, errors: list[FieldError]
) -> timedelta | None:
    """A level's call delay: PT0S up to its own `ack_timeout` (a call after the level gave up
    would ring someone no longer asked)."""
    if text is None:
        return None
    try:
        after = parse_duration(text)
    except InvalidDuration as exc:
        errors.append(FieldError(where, str(exc)))
        return None
    if after > ack_timeout:
        errors.append(FieldError(where, "must be between PT0S and the level's ack_timeout"))
    return after


def _ack_expires_after(text: str | None, errors: list[FieldError]) -> timedelta | None:
    if text is None:
        return None
    try:
        expires = parse_duration(text)
    except InvalidDuration as exc:
        errors.append(FieldError("ack_expires_after", str(exc)))
        return None
    if not MIN_ACK_EXPIRES_AFTER <= expires <= MAX_ACK_EXPIRES_AFTER:
        errors.append(FieldError("ack_expires_after", "must be between PT1M and P30D"))
    return expires


def everyone(policy: EscalationPolicy) -> set[UUID]:
    """Every staff member the policy names (those its schedules put on call aside)."""
    return {staff for level in policy.levels for staff in level.staff_ids} | set(
        policy.fallback_staff_ids
    )


def schedules_of(policy: EscalationPolicy | None) -> set[UUID]:
    """Every schedule the policy's levels name."""
    if policy is None:
        return set()
    return {schedule for level in policy.levels for schedule in level.schedule_ids}


def has_round_robin(policy: EscalationPolicy | None) -> bool:
    """Some level of the policy pages one person in turn."""
    return policy is not None and any(level.round_robin for level in policy.levels)
