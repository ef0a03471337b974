"""The waitlist: clients waiting for an earlier slot, and the offers of freed slots to them.

A freed slot (a cancellation, a reschedule, an expired hold) is offered to the matching
entries one at a time, in order of joining. Each offer holds the slot for the offer's time to
live through an ordinary hold; accepting books it, expiry offers it to the next entry.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID
from zoneinfo import ZoneInfo

from booking.domain.client import Client
from booking.domain.errors import NotAllowedNow, refuse_invalid
from booking.domain.staff import StaffMember
from counseling_shared.codes import Modality


class EntryStatus(StrEnum):
    WAITING = "waiting"
    BOOKED = "booked"
    WITHDRAWN = "withdrawn"  # taken off the list by the front desk or by the client
    CLOSED = "closed"  # no longer makes sense: the episode closed, the group was cancelled, …


class WithdrawReason(StrEnum):
    """Why an entry was withdrawn: a code, never free text about the client."""

    CLIENT_REQUEST = "client_request"
    BOOKED_ELSEWHERE = "booked_elsewhere"
    OTHER = "other"


class CloseReason(StrEnum):
    """Why an entry closed by itself."""

    EPISODE_CLOSED = "episode_closed"  # the client's care episode closed
    GROUP_CANCELLED = "group_cancelled"  # the group session it waited for was cancelled
    CLIENT_ERASED = "client_erased"  # the client was erased on request
    SEATED = "seated"  # the client took a seat in the group it waited for directly
    LEFT_SERIES = "left_series"  # the client left the group series of the session it waited for


LeaveReason = WithdrawReason | CloseReason


def leave_reason(code: str) -> LeaveReason:
    """The stored code as its enum (a withdrawal's or a closing's)."""
    return WithdrawReason(code) if code in {r.value for r in WithdrawReason} else CloseReason(code)


class OfferStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    DECLINED = "declined"  # the client said "No, thank you": the slot went on at once
    WITHDRAWN = "withdrawn"  # its entry left the waitlist while the offer was open


@dataclass(frozen=True)
class FreedSlot:
    site_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    modality: Modality
    start: datetime
    end: datetime
    # A freed seat of this group session (a seat cancelled, a capacity raised, a seat's
    # offer expired): offered only to the group's own waitlist.
    group_session_id: UUID | None = None


@dataclass(frozen=True)
class Entry:
    id: UUID
    site_id: UUID
    client_id: UUID
    counselor_id: UUID | None
    modality: Modality | None
    earliest: datetime | None
    latest: datetime | None
    weekdays: tuple[int, ...] | None
    joined_at: datetime
    status: EntryStatus
    version: int
    group_session_id: UUID | None = None  # waiting for a seat in this group session only
    reason: LeaveReason | None = None  # why it left the list (withdrawn or closed)
    left_at: datetime | None = None

    def matches(self, slot: FreedSlot, zone: ZoneInfo) -> bool:
        """The slot fits every constraint the client gave; a group's entry fits only a seat
        of its group, and an ordinary entry never a seat."""
        return (
            self.status is EntryStatus.WAITING
            and slot.group_session_id == self.group_session_id
            and slot.site_id == self.site_id
            and self.counselor_id in (None, slot.counselor_id)
            and self.modality in (None, slot.modality)
            and (self.earliest is None or slot.start >= self.earliest)
            and (self.latest is None or slot.end <= self.latest)
            and (not self.weekdays or slot.start.astimezone(zone).isoweekday() in self.weekdays)
        )


@dataclass(frozen=True)
class JoinWaitlist:
    client_id: UUID
    site_id: UUID
    counselor_id: UUID | None = None
    modality: Modality | None = None
    earliest: datetime | None = None
    latest: datetime | None = None
    weekdays: tuple[int, ...] | None = None


@dataclass(frozen=True)
class WaitlistJoined:
    entry_id: UUID
    site_id: UUID
    client_id: UUID
    counselor_id: UUID | None
    modality: Modality | None
    earliest: datetime | None
    latest: datetime | None
    weekdays: tuple[int, ...] | None
    joined_at: datetime
    group_session_id: UUID | None = None


@dataclass(frozen=True)
class WaitlistEntryBooked:
    entry_id: UUID
    appointment_id: UUID
    booked_at: datetime


@dataclass(frozen=True)
class WaitlistEntryWithdrawn:
    entry_id: UUID
    reason: WithdrawReason
    withdrawn_at: datetime


@dataclass(frozen=True)
class WaitlistEntryClosed:
    entry_id: UUID
    reason: CloseReason
    closed_at: datetime


EntryEvent = WaitlistJoined | WaitlistEntryBooked | WaitlistEntryWithdrawn | WaitlistEntryClosed


class EntryNotWaiting(NotAllowedNow):
    """Withdrawing an entry that is booked or already off the list (409)."""

    def __init__(self, entry: Entry) -> None:
        super().__init__(f"waitlist entry {entry.id} is {entry.status.value}, not waiting")


def withdraw(entry: Entry, reason: WithdrawReason, now: datetime) -> list[EntryEvent]:
    if entry.status is not EntryStatus.WAITING:
        raise EntryNotWaiting(entry)
    return [WaitlistEntryWithdrawn(entry.id, reason, now)]


def close(entry: Entry, reason: CloseReason, now: datetime) -> list[EntryEvent]:
    """Close a waiting entry that no longer makes sense; nothing for one that left already."""
    if entry.status is not EntryStatus.WAITING:
        return []
    return [WaitlistEntryClosed(entry.id, reason, now)]


def join(
    command: JoinWaitlist,
    entry_id: UUID,
    client: Client | None,
    counselor: StaffMember | None,
    now: datetime,
) -> list[EntryEvent]:
    bad_window = (
        command.earliest is not None
        and command.latest is not None
        and command.latest <= command.earliest
    )
    refuse_invalid(
        {
            "client_id": "no client with this id"
            if client is None
            else "the client is registered at another site"
            if client.site_id != command.site_id
            else None,
            "counselor_id": None
            if command.counselor_id is None
            else "no counselor with this id at the site"
            if counselor is None or counselor.site_id != command.site_id
            else None
            if counselor.holds_sessions and counselor.active
            else "this staff member holds no sessions",
            "latest": "must be after `earliest`" if bad_window else None,
            "weekdays": None
            if not command.weekdays or all(1 <= d <= 7 for d in command.weekdays)
            else "ISO weekdays: 1 Monday … 7 Sunday",
        }
    )
    return [
        WaitlistJoined(
            entry_id,
            command.site_id,
            command.client_id,
            command.counselor_id,
            command.modality,
            command.earliest,
            command.latest,
            tuple(sorted(set(command.weekdays))) if command.weekdays else None,
            now,
        )
    ]


def evolve_entry(state: Entry | None, event: EntryEvent) -> Entry:
    match event:
        case WaitlistJoined():
            return Entry(
                event.entry_id,
                event.site_id,
                event.client_id,
                event.counselor_id,
                event.modality,
                event.earliest,
                event.latest,
                event.weekdays,
                event.joined_at,
                EntryStatus.WAITING,
                version=1,
                group_session_id=event.group_session_id,
            )
        case WaitlistEntryBooked():
            assert state is not None, "WaitlistEntryBooked before WaitlistJoined"
            return replace(state, status=EntryStatus.BOOKED, version=state.version + 1)
        case WaitlistEntryWithdrawn():
            assert state is not None, "WaitlistEntryWithdrawn before WaitlistJoined"
            return replace(
                state,
                status=EntryStatus.WITHDRAWN,
                reason=event.reason,
                left_at=event.withdrawn_at,
                version=state.version + 1,
            )
        case WaitlistEntryClosed():
            assert state is not None, "WaitlistEntryClosed before WaitlistJoined"
            return replace(
                state,
                status=EntryStatus.CLOSED,
                reason=event.reason,
                left_at=event.closed_at,
                version=state.version + 1,
            )


# --- offers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    id: UUID
    entry_id: UUID
    site_id: UUID
    client_id: UUID
    hold_id: UUID
    counselor_id: UUID
    start: datetime
    end: datetime
    offered_at: datetime
    expires_at: datetime
    status: OfferStatus
    version: int
    appointment_id: UUID | None = None
    group_session_id: UUID | None = None  # a seat of this group session is offered


@dataclass(frozen=True)
class WaitlistOfferMade:
    offer_id: UUID
    entry_id: UUID
    site_id: UUID
    client_id: UUID
    hold_id: UUID
    counselor_id: UUID
    start: datetime
    end: datetime
    offered_at: datetime
    expires_at: datetime
    group_session_id: UUID | None = None


@dataclass(frozen=True)
class WaitlistOfferAccepted:
    offer_id: UUID
    appointment_id: UUID
    accepted_at: datetime


@dataclass(frozen=True)
class WaitlistOfferExpired:
    offer_id: UUID
    expired_at: datetime


@dataclass(frozen=True)
class WaitlistOfferDeclined:
    offer_id: UUID
    declined_at: datetime


@dataclass(frozen=True)
class WaitlistOfferWithdrawn:
    """The offer's entry left the waitlist while the offer was open."""

    offer_id: UUID
    withdrawn_at: datetime


OfferEvent = (
    WaitlistOfferMade
    | WaitlistOfferAccepted
    | WaitlistOfferExpired
    | WaitlistOfferDeclined
    | WaitlistOfferWithdrawn
)


class OfferAlreadyAccepted(NotAllowedNow):
    """Accepting twice (409)."""

    def __init__(self, offer: Offer) -> None:
        super().__init__(
            f"offer {offer.id} was already accepted: appointment {offer.appointment_id}"
        )
        self.appointment_id = offer.appointment_id


class OfferExpired(NotAllowedNow):
    """Accepting too late, or an offer declined or withdrawn (410)."""

    def __init__(self, offer: Offer) -> None:
        super().__init__(
            f"offer {offer.id} expired at {offer.expires_at.isoformat()}; the slot went to "
            "the next client on the waitlist"
        )


def check_acceptable(offer: Offer, now: datetime) -> None:
    if offer.status is OfferStatus.ACCEPTED:
        raise OfferAlreadyAccepted(offer)
    if offer.status is not OfferStatus.OPEN or now >= offer.expires_at:
        raise OfferExpired(offer)  # expired, declined or withdrawn: the slot went on


def evolve_offer(state: Offer | None, event: OfferEvent) -> Offer:
    match event:
        case WaitlistOfferMade():
            return Offer(
                event.offer_id,
                event.entry_id,
                event.site_id,
                event.client_id,
                event.hold_id,
                event.counselor_id,
                event.start,
                event.end,
                event.offered_at,
                event.expires_at,
                OfferStatus.OPEN,
                version=1,
                group_session_id=event.group_session_id,
            )
        case WaitlistOfferAccepted():
            assert state is not None
            return replace(
                state,
                status=OfferStatus.ACCEPTED,
                appointment_id=event.appointment_id,
                version=state.version + 1,
            )
        case WaitlistOfferExpired():
            assert state is not None
            return replace(state, status=OfferStatus.EXPIRED, version=state.version + 1)
        case WaitlistOfferDeclined():
            assert state is not None
            return replace(state, status=OfferStatus.DECLINED, version=state.version + 1)
        case WaitlistOfferWithdrawn():
            assert state is not None
            return replace(state, status=OfferStatus.WITHDRAWN, version=state.version + 1)
