"""The Client aggregate: a person in care at a site, with their current episode of care."""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from booking.domain.errors import NotAllowedNow, refuse_invalid
from booking.domain.site import Site
from booking.domain.values import is_email, is_known_timezone, is_locale, is_phone
from counseling_shared.codes import Channel, ClosureReason

# The address each channel reaches a client at.
_CHANNEL_NEEDS = {
    Channel.EMAIL: "email",
    Channel.SMS: "phone",
    Channel.PHONE: "phone",
    Channel.MESSAGING: "phone",
}


class EpisodeStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Referral:
    """Where a client was referred on closure. Stays in booking: never on the bus."""

    to: str
    contact: str


@dataclass(frozen=True)
class Episode:
    """One episode of care. A client's first opens at registration; booking after a closure
    opens the next."""

    number: int
    status: EpisodeStatus
    opened_at: datetime
    closed_at: datetime | None = None
    reason: ClosureReason | None = None
    effective_on: date | None = None
    referral: Referral | None = None


@dataclass(frozen=True)
class Client:
    """A client of a site. Name and contact details live only here (and in booking's
    database); other services learn ids and coded values."""

    id: UUID
    site_id: UUID
    name: str
    email: str | None
    phone: str | None
    locale: str
    timezone: str
    preferred_channel: Channel
    registered_at: datetime
    episode: Episode
    version: int


@dataclass(frozen=True)
class RegisterClient:
    site_id: UUID
    name: str
    preferred_channel: Channel
    email: str | None = None
    phone: str | None = None
    locale: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class CloseCareEpisode:
    reason: ClosureReason
    effective_on: date
    referral: Referral | None = None


@dataclass(frozen=True)
class ClientRegistered:
    client_id: UUID
    site_id: UUID
    name: str
    email: str | None
    phone: str | None
    locale: str
    timezone: str
    preferred_channel: Channel
    registered_at: datetime


@dataclass(frozen=True)
class CareEpisodeClosed:
    client_id: UUID
    episode: int
    reason: ClosureReason
    effective_on: date
    referral: Referral | None
    closed_at: datetime


@dataclass(frozen=True)
class CareEpisodeOpened:
    client_id: UUID
    episode: int
    opened_at: datetime


ClientEvent = ClientRegistered | CareEpisodeClosed | CareEpisodeOpened


def register(
    command: RegisterClient, site: Site | None, client_id: UUID, now: datetime
) -> list[ClientEvent]:
    needed = _CHANNEL_NEEDS[command.preferred_channel]
    missing = f"required when preferred_channel is {command.preferred_channel}"
    refuse_invalid(
        {
            "site_id": None if site is not None else "no site with this id",
            "name": None if command.name.strip() else "must not be blank",
            "email": _address_problem(command.email, is_email, "must be an email address")
            or (missing if needed == "email" and command.email is None else None),
            "phone": _address_problem(command.phone, is_phone, "must be a phone number")
            or (missing if needed == "phone" and command.phone is None else None),
            "locale": None
            if command.locale is None or is_locale(command.locale)
            else "must be a BCP 47 language tag",
            "timezone": None
            if command.timezone is None or is_known_timezone(command.timezone)
            else "must be an IANA time zone name such as Europe/Paris",
        }
    )
    assert site is not None
    return [
        ClientRegistered(
            client_id=client_id,
            site_id=site.id,
            name=command.name.strip(),
            email=command.email,
            phone=command.phone,
            locale=command.locale or site.locale,
            timezone=command.timezone or site.timezone,
            preferred_channel=command.preferred_channel,
            registered_at=now,
        )
    ]


def _address_problem(value: str | None, valid: Callable[[str], bool], message: str) -> str | None:
    return None if value is None or valid(value) else message


def close_episode(client: Client, command: CloseCareEpisode, now: datetime) -> list[ClientEvent]:
    if client.episode.status is EpisodeStatus.CLOSED:
        raise NotAllowedNow(f"client {client.id}'s episode of care is already closed")
    if command.referral is not None:
        refuse_invalid(
            {
                "referral.to": None if command.referral.to.strip() else "must not be blank",
                "referral.contact": None
                if command.referral.contact.strip()
                else "must not be blank",
            }
        )
    return [
        CareEpisodeClosed(
            client_id=client.id,
            episode=client.episode.number,
            reason=command.reason,
            effective_on=command.effective_on,
            referral=command.referral,
            closed_at=now,
        )
    ]


def reopen_for_booking(client: Client, now: datetime) -> list[ClientEvent]:
    """Booking a client whose episode is closed starts their next episode of care."""
    if client.episode.status is EpisodeStatus.OPEN:
        return []
    return [CareEpisodeOpened(client.id, client.episode.number + 1, now)]


def evolve(state: Client | None, event: ClientEvent) -> Client:
    match event:
        case ClientRegistered():
            return Client(
                id=event.client_id,
                site_id=event.site_id,
                name=event.name,
                email=event.email,
                phone=event.phone,
                locale=event.locale,
                timezone=event.timezone,
                preferred_channel=event.preferred_channel,
                registered_at=event.registered_at,
                episode=Episode(1, EpisodeStatus.OPEN, opened_at=event.registered_at),
                version=1,
            )
        case CareEpisodeClosed():
            assert state is not None
            closed = replace(
                state.episode,
                status=EpisodeStatus.CLOSED,
                closed_at=event.closed_at,
                reason=event.reason,
                effective_on=event.effective_on,
                referral=event.referral,
            )
            return replace(state, episode=closed, version=state.version + 1)
        case CareEpisodeOpened():
            assert state is not None
            opened = Episode(event.episode, EpisodeStatus.OPEN, opened_at=event.opened_at)
            return replace(state, episode=opened, version=state.version + 1)
