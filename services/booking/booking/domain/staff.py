"""The StaffMember aggregate: counselors, supervisors, site leads and crisis-line staff."""

from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from booking.domain.errors import NotAllowedNow, refuse_invalid
from booking.domain.site import Site
from booking.domain.values import is_email, is_locale, is_phone
from counseling_shared.codes import StaffRole

# Who may hold sessions with clients. Crisis-line staff answer pages but keep no caseload.
CLINICAL_ROLES = frozenset({StaffRole.COUNSELOR, StaffRole.SUPERVISOR, StaffRole.SITE_LEAD})


@dataclass(frozen=True)
class StaffMember:
    """A member of a site's staff. Their contact details travel in events so paging works
    while booking is down."""

    id: UUID
    site_id: UUID
    name: str
    role: StaffRole
    email: str
    phone: str | None
    locale: str
    registered_at: datetime
    version: int
    deactivated_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.deactivated_at is None

    @property
    def holds_sessions(self) -> bool:
        return self.role in CLINICAL_ROLES


@dataclass(frozen=True)
class RegisterStaffMember:
    site_id: UUID
    name: str
    role: StaffRole
    email: str
    phone: str | None = None
    locale: str | None = None


@dataclass(frozen=True)
class ChangeStaffContact:
    """A change of contact details. Only the fields named in `given` change; `phone` given as
    None removes it (the others may not be None)."""

    given: frozenset[str]
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    locale: str | None = None


CHANGEABLE = frozenset({"name", "email", "phone", "locale"})


@dataclass(frozen=True)
class StaffMemberRegistered:
    staff_id: UUID
    site_id: UUID
    name: str
    role: StaffRole
    email: str
    phone: str | None
    locale: str
    registered_at: datetime


@dataclass(frozen=True)
class StaffMemberDeactivated:
    """The member left or was suspended: kept on record, never paged or booked again."""

    staff_id: UUID
    deactivated_at: datetime


@dataclass(frozen=True)
class StaffMemberContactChanged:
    """The member's contact details after a change (all of them, changed or not)."""

    staff_id: UUID
    name: str
    email: str
    phone: str | None
    locale: str
    changed_at: datetime


@dataclass(frozen=True)
class StaffMemberAnnouncedAgain:
    """An operator had booking announce the member's current details again (after a key
    rotation, so every consumer re-derives what it keeps from them). Nothing changed."""

    staff_id: UUID
    announced_at: datetime


StaffEvent = (
    StaffMemberRegistered
    | StaffMemberDeactivated
    | StaffMemberContactChanged
    | StaffMemberAnnouncedAgain
)


def register(
    command: RegisterStaffMember, site: Site | None, staff_id: UUID, now: datetime
) -> list[StaffMemberRegistered]:
    refuse_invalid(
        {
            "site_id": None if site is not None else "no site with this id",
            "name": None if command.name.strip() else "must not be blank",
            "email": None if is_email(command.email) else "must be an email address",
            "phone": None
            if command.phone is None or is_phone(command.phone)
            else "must be a phone number",
            "locale": None
            if command.locale is None or is_locale(command.locale)
            else "must be a BCP 47 language tag",
        }
    )
    assert site is not None
    return [
        StaffMemberRegistered(
            staff_id=staff_id,
            site_id=site.id,
            name=command.name.strip(),
            role=command.role,
            email=command.email,
            phone=command.phone,
            locale=command.locale or site.locale,
            registered_at=now,
        )
    ]


def deactivate(member: StaffMember, now: datetime) -> list[StaffEvent]:
    """Deactivating someone already inactive changes nothing (a retried request)."""
    if not member.active:
        return []
    return [StaffMemberDeactivated(member.id, now)]


def change_contact(
    member: StaffMember, command: ChangeStaffContact, now: datetime
) -> list[StaffEvent]:
    """Validated as on registration. A change that changes nothing records nothing; a
    deactivated member's details are not changed (nothing is sent to them any more)."""
    if not member.active:
        raise NotAllowedNow(f"staff member {member.id} is deactivated")
    given = command.given
    name = command.name if "name" in given else member.name
    email = command.email if "email" in given else member.email
    phone = command.phone if "phone" in given else member.phone
    locale = command.locale if "locale" in given else member.locale
    refuse_invalid(
        {
            "name": None if name is not None and name.strip() else "must not be blank",
            "email": None if email is not None and is_email(email) else "must be an email address",
            "phone": None if phone is None or is_phone(phone) else "must be a phone number",
            "locale": None
            if locale is not None and is_locale(locale)
            else "must be a BCP 47 language tag",
        }
    )
    assert name is not None  # refuse_invalid named each missing one
    assert email is not None
    assert locale is not None
    changed = StaffMemberContactChanged(member.id, name.strip(), email, phone, locale, now)
    if (changed.name, email, phone, locale) == (
        member.name,
        member.email,
        member.phone,
        member.locale,
    ):
        return []
    return [changed]


def announce_again(member: StaffMember, now: datetime) -> list[StaffEvent]:
    """Only active members are announced again: a deactivated one is never paged."""
    return [StaffMemberAnnouncedAgain(member.id, now)] if member.active else []


def evolve(state: StaffMember | None, event: StaffEvent) -> StaffMember:
    match event:
        case StaffMemberRegistered():
            return StaffMember(
                id=event.staff_id,
                site_id=event.site_id,
                name=event.name,
                role=event.role,
                email=event.email,
                phone=event.phone,
                locale=event.locale,
                registered_at=event.registered_at,
                version=1,
            )
        case StaffMemberDeactivated():
            assert state is not None
            return replace(state, deactivated_at=event.deactivated_at, version=state.version + 1)
        case StaffMemberContactChanged():
            assert state is not None
            return replace(
                state,
                name=event.name,
                email=event.email,
                phone=event.phone,
                locale=event.locale,
                version=state.version + 1,
            )
        case StaffMemberAnnouncedAgain():
            assert state is not None
            return replace(state, version=state.version + 1)
