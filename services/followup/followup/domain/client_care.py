"""The ClientCare aggregate: what followup knows about one client's care.

Where the client lives (zone, site), how they want follow-ups (preferences), which completed
session anchors the current check-in series, and whether the care episode is closed. Learned from
booking's events and from the preferences endpoint; folded from the `client-<id>` stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from counseling_shared.codes import Channel, ClosureReason, GoalHorizon, Intensity
from counseling_shared.fast_replace import replace
from counseling_shared.stored_ids import parse_uuid
from followup.domain.preferences import FollowUpPreferences
from followup.domain.records import plain_fields

UTC_ZONE = ZoneInfo("UTC")


def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA zone called `name`, or None when there is no such zone."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class ClientRecorded:
    site_id: UUID
    timezone: str | None
    locale: str | None


@dataclass(frozen=True)
class PreferencesSet:
    channel: Channel | None
    intensity: Intensity


@dataclass(frozen=True)
class SessionAnchored:
    session_id: UUID
    completed_at: datetime
    goal_horizon: GoalHorizon
    counselor_id: UUID | None = None  # absent in events stored before contract v2


@dataclass(frozen=True)
class EpisodeEnded:
    effective_on: date
    reason: ClosureReason


Event = ClientRecorded | PreferencesSet | SessionAnchored | EpisodeEnded


@dataclass(frozen=True)
class ClientCare:
    """One client as followup sees them. `site_id` is None until booking told us."""

    client_id: UUID
    version: int = 0
    site_id: UUID | None = None
    timezone: str | None = None
    locale: str | None = None
    preferences: FollowUpPreferences = field(default_factory=FollowUpPreferences)
    session_id: UUID | None = None
    session_completed_at: datetime | None = None
    goal_horizon: GoalHorizon | None = None
    episode_closed_on: date | None = None
    counselor_id: UUID | None = None  # the counselor of the anchoring session

    @property
    def stream_id(self) -> str:
        return stream_id(self.client_id)

    @property
    def zone(self) -> ZoneInfo:
        return zone_named(self.timezone) or UTC_ZONE

    @property
    def in_care(self) -> bool:
        """A session anchors a check-in series and the episode is not closed."""
        return self.session_completed_at is not None and self.episode_closed_on is None


def stream_id(client_id: UUID) -> str:
    return f"client-{client_id}"


def new_client(client_id: UUID) -> ClientCare:
    return ClientCare(client_id=client_id)


def record(
    state: ClientCare, site_id: UUID, timezone: str | None, locale: str | None
) -> list[Event]:
    if (state.site_id, state.timezone, state.locale) == (site_id, timezone, locale):
        return []
    return [ClientRecorded(site_id, timezone, locale)]


def set_preferences(state: ClientCare, preferences: FollowUpPreferences) -> list[Event]:
    if state.version and state.preferences == preferences:
        return []
    return [PreferencesSet(preferences.channel, preferences.intensity)]


def anchor_session(
    state: ClientCare,
    session_id: UUID,
    completed_at: datetime,
    horizon: GoalHorizon,
    counselor_id: UUID | None = None,
) -> list[Event]:
    """A completed session re-anchors the series, unless a later session already did."""
    if state.session_id == session_id:
        return []
    if state.session_completed_at is not None and completed_at < state.session_completed_at:
        return []
    if state.episode_closed_on is not None and completed_at.date() < state.episode_closed_on:
        return []  # a late report of a session from before the closure does not reopen care
    return [SessionAnchored(session_id, completed_at, horizon, counselor_id)]


def end_episode(state: ClientCare, effective_on: date, reason: ClosureReason) -> list[Event]:
    if state.episode_closed_on == effective_on:
        return []
    return [EpisodeEnded(effective_on, reason)]


def evolve(state: ClientCare, event: Event) -> ClientCare:
    state = replace(state, version=state.version + 1)
    if isinstance(event, ClientRecorded):
        return replace(state, site_id=event.site_id, timezone=event.timezone, locale=event.locale)
    if isinstance(event, PreferencesSet):
        return replace(state, preferences=FollowUpPreferences(event.channel, event.intensity))
    if isinstance(event, SessionAnchored):
        # A new session means the client is in care again, even after a closure.
        return replace(
            state,
            session_id=event.session_id,
            session_completed_at=event.completed_at,
            goal_horizon=event.goal_horizon,
            episode_closed_on=None,
            counselor_id=event.counselor_id,
        )
    return replace(state, episode_closed_on=event.effective_on)


EVENT_TYPES: dict[type[Any], str] = {
    ClientRecorded: "ClientRecorded",
    PreferencesSet: "FollowUpPreferencesSet",
    SessionAnchored: "SessionAnchored",
    EpisodeEnded: "CareEpisodeEnded",
}


def to_record(event: Event) -> tuple[str, dict[str, Any]]:
    return EVENT_TYPES[type(event)], plain_fields(event)


def from_record(event_type: str, data: dict[str, Any]) -> Event:
    if event_type == "ClientRecorded":
        return ClientRecorded(parse_uuid(data["site_id"]), data.get("timezone"), data.get("locale"))
    if event_type == "FollowUpPreferencesSet":
        channel = data.get("channel")
        return PreferencesSet(Channel(channel) if channel else None, Intensity(data["intensity"]))
    if event_type == "SessionAnchored":
        return SessionAnchored(
            parse_uuid(data["session_id"]),
            datetime.fromisoformat(data["completed_at"]),
            GoalHorizon(data["goal_horizon"]),
            parse_uuid(data["counselor_id"]) if data.get("counselor_id") else None,
        )
    if event_type == "CareEpisodeEnded":
        return EpisodeEnded(date.fromisoformat(data["effective_on"]), ClosureReason(data["reason"]))
    raise ValueError(f"unknown client event type {event_type!r}")
