"""Contact regularity: no client in care drifts silently, and nobody is chased after a "no".

Definitions (contract, "Contact regularity"):
- a **positive contact** is a completed session, or a follow-up completed `reached` or
  `responded` whose answers are not negative;
- a **negative contact** is a follow-up completed `declined`, a satisfaction answer of 1 or 2, or
  a check-in answer of 1 to "how are you" (a negative answer outweighs the outcome).

One `Regularity` per client holds the gap timer (`gap_due_at`: `max_contact_gap` after the last
positive contact, in elapsed time) and the cool-off (`cooloff_until`: `negative_contact_cooloff`
after the last negative contact). Outreach to the client that falls due inside a cool-off moves to
its end; crisis paths never pass through here. Pure: `decide_*` return events, `evolve` folds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from counseling_shared.fast_replace import replace
from counseling_shared.stored_ids import parse_uuid
from followup.domain.durations import CalendarDuration, add_in_zone
from followup.domain.records import plain_fields

ELAPSED = ZoneInfo("UTC")
"""Gaps and cool-offs are elapsed time: counted on UTC's calendar, no wall clock kept."""

POSITIVE_OUTCOMES = frozenset({"reached", "responded"})
NEGATIVE_OUTCOMES = frozenset({"declined"})
NEGATIVE_SATISFACTION = frozenset({1, 2})
NEGATIVE_HOW_ARE_YOU = frozenset({1})

CIVIL_DAY_START = time(9, 0)
CIVIL_DAY_END = time(20, 0)
"""Outreach the regularity rules move is sent between these wall times in the client's zone."""


class Contact(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    NEUTRAL = "neutral"  # e.g. `not_reached`: nobody spoke, the gap keeps running


def classify_followup_answer(
    outcome: str, *, satisfaction: int | None = None, how_are_you: int | None = None
) -> Contact:
    """What a completed follow-up says about the relationship (outcome is its code)."""
    if (
        outcome in NEGATIVE_OUTCOMES
        or satisfaction in NEGATIVE_SATISFACTION
        or how_are_you in NEGATIVE_HOW_ARE_YOU
    ):
        return Contact.NEGATIVE
    if outcome in POSITIVE_OUTCOMES:
        return Contact.POSITIVE
    return Contact.NEUTRAL


def elapsed_after(instant: datetime, duration: CalendarDuration) -> datetime:
    return add_in_zone(instant, duration, ELAPSED)


def at_civil_hour(instant: datetime, zone: ZoneInfo) -> datetime:
    """`instant`, or the next 09:00 in `zone` when it falls outside 09:00-20:00 there."""
    local = instant.astimezone(zone)
    if CIVIL_DAY_START <= local.time() < CIVIL_DAY_END:
        return instant
    day = local.date() if local.time() < CIVIL_DAY_START else local.date() + timedelta(days=1)
    return datetime.combine(day, CIVIL_DAY_START, tzinfo=zone).astimezone(instant.tzinfo)


# --- events (internal, stream `regularity-<client_id>`) ------------------------------------


@dataclass(frozen=True)
class PositiveContactRecorded:
    at: datetime
    site_id: UUID
    gap_due_at: datetime
    client_initiated: bool  # a session the client came to: ends a cool-off early
    counselor_id: UUID | None


@dataclass(frozen=True)
class NegativeContactNoted:
    at: datetime
    site_id: UUID
    cooloff_until: datetime


@dataclass(frozen=True)
class GapFound:
    at: datetime
    next_check_at: datetime


@dataclass(frozen=True)
class GapTimerStopped:
    at: datetime  # the client left care (closed, paused): nothing to watch


@dataclass(frozen=True)
class GapTimerArmed:
    at: datetime  # back in care without a new contact (resumed): the gap counts from here
    gap_due_at: datetime


Event = PositiveContactRecorded | NegativeContactNoted | GapFound | GapTimerStopped | GapTimerArmed


@dataclass(frozen=True)
class Regularity:
    client_id: UUID
    site_id: UUID | None = None  # from the first contact recorded
    version: int = 0
    counselor_id: UUID | None = None
    last_positive_at: datetime | None = None
    last_negative_at: datetime | None = None
    cooloff_until: datetime | None = None
    gap_due_at: datetime | None = None
    gap_found_at: datetime | None = None  # set while the client is past the gap

    @property
    def stream_id(self) -> str:
        return stream_id(self.client_id)

    def in_cooloff(self, now: datetime) -> bool:
        return self.cooloff_until is not None and now < self.cooloff_until

    def deferred(self, due_at: datetime) -> datetime | None:
        """Where outreach due at `due_at` moves to: the cool-off's end, or None (not held)."""
        if self.cooloff_until is not None and due_at < self.cooloff_until:
            return self.cooloff_until
        return None


def stream_id(client_id: UUID) -> str:
    return f"regularity-{client_id}"


def new(client_id: UUID) -> Regularity:
    return Regularity(client_id=client_id)


def record_positive(
    state: Regularity,
    site_id: UUID,
    at: datetime,
    max_gap: CalendarDuration,
    *,
    client_initiated: bool,
    counselor_id: UUID | None = None,
) -> list[Event]:
    """A positive contact re-arms the gap timer from `at` (a contact reported late, older
    than the last one, changes nothing)."""
    if state.last_positive_at is not None and at <= state.last_positive_at:
        return []
    return [
        PositiveContactRecorded(
            at,
            site_id,
            elapsed_after(at, max_gap),
            client_initiated,
            counselor_id or state.counselor_id,
        )
    ]


def record_negative(
    state: Regularity, site_id: UUID, at: datetime, cooloff: CalendarDuration
) -> list[Event]:
    """A negative contact (re)starts the cool-off; an earlier end never shortens a later one."""
    until = elapsed_after(at, cooloff)
    if state.cooloff_until is not None and until <= state.cooloff_until:
        return []
    return [NegativeContactNoted(at, site_id, until)]


def detect_gap(state: Regularity, now: datetime, max_gap: CalendarDuration) -> list[Event]:
    """The gap timer fired: the client is past the gap. It re-arms one more gap ahead, so a
    client who stays out of touch is raised again every `max_gap`, never in a burst."""
    if state.gap_due_at is None or now < state.gap_due_at:
        return []
    return [GapFound(now, elapsed_after(now, max_gap))]


def stop_gap_timer(state: Regularity, now: datetime) -> list[Event]:
    if state.gap_due_at is None and state.gap_found_at is None:
        return []
    return [GapTimerStopped(now)]


def arm_gap_timer(state: Regularity, now: datetime, max_gap: CalendarDuration) -> list[Event]:
    """A client watched again (resumed from a pause) whose timer was stopped: the gap is
    counted from now, so a resumed client is not chased at once for the time they paused."""
    if state.gap_due_at is not None or state.site_id is None:
        return []
    return [GapTimerArmed(now, elapsed_after(now, max_gap))]


def evolve(state: Regularity, event: Event) -> Regularity:
    state = replace(state, version=state.version + 1)
    if isinstance(event, PositiveContactRecorded):
        state = replace(
            state,
            site_id=event.site_id,
            last_positive_at=event.at,
            gap_due_at=event.gap_due_at,
            gap_found_at=None,
            counselor_id=event.counselor_id,
        )
        if event.client_initiated:
            state = replace(state, cooloff_until=None)
        return state
    if isinstance(event, NegativeContactNoted):
        return replace(
            state,
            site_id=event.site_id,
            last_negative_at=event.at,
            cooloff_until=event.cooloff_until,
        )
    if isinstance(event, GapFound):
        return replace(state, gap_found_at=event.at, gap_due_at=event.next_check_at)
    if isinstance(event, GapTimerArmed):
        return replace(state, gap_due_at=event.gap_due_at)
    return replace(state, gap_due_at=None, gap_found_at=None)


# --- storage form --------------------------------------------------------------------------

EVENT_TYPES: dict[type[Any], str] = {
    PositiveContactRecorded: "PositiveContactRecorded",
    NegativeContactNoted: "NegativeContactNoted",
    GapFound: "ContactGapFound",
    GapTimerStopped: "ContactGapTimerStopped",
    GapTimerArmed: "ContactGapTimerArmed",
}


def to_record(event: Event) -> tuple[str, dict[str, Any]]:
    return EVENT_TYPES[type(event)], plain_fields(event)


def from_record(event_type: str, data: dict[str, Any]) -> Event:
    at = datetime.fromisoformat(data["at"])
    if event_type == "PositiveContactRecorded":
        counselor = data.get("counselor_id")
        return PositiveContactRecorded(
            at,
            parse_uuid(data["site_id"]),
            datetime.fromisoformat(data["gap_due_at"]),
            bool(data["client_initiated"]),
            parse_uuid(counselor) if counselor else None,
        )
    if event_type == "NegativeContactNoted":
        return NegativeContactNoted(
            at, parse_uuid(data["site_id"]), datetime.fromisoformat(data["cooloff_until"])
        )
    if event_type == "ContactGapFound":
        return GapFound(at, datetime.fromisoformat(data["next_check_at"]))
    if event_type == "ContactGapTimerStopped":
        return GapTimerStopped(at)
    if event_type == "ContactGapTimerArmed":
        return GapTimerArmed(at, datetime.fromisoformat(data["gap_due_at"]))
    raise ValueError(f"unknown regularity event type {event_type!r}")
