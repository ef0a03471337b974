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
class CorrectContact:
    """A correction of contact details. Only the fields named in `given` change; `email` and
    `phone` given as None are cleared (the others may not be)."""

    given: frozenset[str]
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    locale: str | None = None
    timezone: str | None = None
    preferred_channel: Channel | None = None


CORRECTABLE = frozenset({"name", "email", "phone", "locale", "timezone", "preferred_channel"})
ADDRESSES = ("email", "phone")  # where the client's messages and signed links go


def changes_an_address(client: Client, command: CorrectContact) -> bool:
    """Whether the correction sends the client's messages somewhere else (or nowhere): an
    email or phone given with a value other than the current one."""
    return any(
        field in command.given and getattr(command, field) != getattr(client, field)
        for field in ADDRESSES
    )


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


@dataclass(frozen=True)
class ClientContactCorrected:
    """The client's contact details after a correction (all of them, changed or not)."""

    client_id: UUID
    name: str
    email: str | None
    phone: str | None
    locale: str
    timezone: str
    preferred_channel: Channel
    corrected_at: datetime


ClientEvent = ClientRegistered | CareEpisodeClosed | CareEpisodeOpened | ClientContactCorrected


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


def correct_contact(client: Client, command: CorrectContact, now: datetime) -> list[ClientEvent]:
    """Apply a correction; the merged details must still reach the client on their channel.

    A correction that changes nothing records nothing.
    """
    given = command.given
    name = command.name if "name" in given else client.name
    email = command.email if "email" in given else client.email
    phone = command.phone if "phone" in given else client.phone
    locale = command.locale if "locale" in given else client.locale
    timezone = command.timezone if "timezone" in given else client.timezone
    channel = (
        command.preferred_channel if "preferred_channel" in given else client.preferred_channel
    )
    needed = _CHANNEL_NEEDS[channel] if channel is not None else None
    missing = f"required when preferred_channel is {channel}"
    refuse_invalid(
        {
            "name": None if name and name.strip() else "must not be blank",
            "email": _address_problem(email, is_email, "must be an email address")
            or (missing if needed == "email" and email is None else None),
            "phone": _address_problem(phone, is_phone, "must be a phone number")
            or (missing if needed == "phone" and phone is None else None),
            "locale": _required_problem(locale, is_locale, "must be a BCP 47 language tag"),
            "timezone": _required_problem(
                timezone, is_known_timezone, "must be an IANA time zone name such as Europe/Paris"
            ),
            "preferred_channel": None if channel is not None else "must not be null",
        }
    )
    assert name is not None  # refuse_invalid named each missing one
    assert locale is not None
    assert timezone is not None
    assert channel is not None
    corrected = ClientContactCorrected(
        client_id=client.id,
        name=name.strip(),
        email=email,
        phone=phone,
        locale=locale,
        timezone=timezone,
        preferred_channel=channel,
        corrected_at=now,
    )
    before = (client.name, client.email, client.phone, client.locale, client.timezone)
    after = (corrected.name, email, phone, locale, timezone)
    if before == after and client.preferred_channel is channel:
        return []
    return [corrected]


def _required_problem(value: str | None, valid: Callable[[str], bool], message: str) -> str | None:
    if value is None:
        return "must not be null"
    return None if valid(value) else message


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
        case ClientContactCorrected():
            assert state is not None
            return replace(
                state,
                name=event.name,
                email=event.email,
                phone=event.phone,
                locale=event.locale,
                timezone=event.timezone,
                preferred_channel=event.preferred_channel,
                version=state.version + 1,
            )
