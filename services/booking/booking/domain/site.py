"""The Site aggregate: a counseling site with its time zone, locale and booking policy."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from booking.domain.errors import refuse_invalid
from booking.domain.values import is_known_timezone, is_locale, parse_duration

DEFAULT_LOCALE = "en"
DEFAULT_LATE_CANCELLATION_WINDOW = "PT24H"
# How far ahead a session may be booked, in calendar months (a typo'd year lands beyond it).
DEFAULT_BOOKING_HORIZON_MONTHS = 18
MAX_BOOKING_HORIZON_MONTHS = 120


@dataclass(frozen=True)
class Site:
    """A counseling site. Staff, rooms and clients belong to exactly one site.

    `late_cancellation_window` (ISO 8601) is how long before a session a cancellation counts
    as late; each site tunes it.
    """

    id: UUID
    name: str
    timezone: str
    locale: str
    late_cancellation_window: str
    registered_at: datetime
    version: int
    booking_horizon_months: int = DEFAULT_BOOKING_HORIZON_MONTHS

    @property
    def late_window(self) -> timedelta:
        return parse_duration(self.late_cancellation_window)


@dataclass(frozen=True)
class RegisterSite:
    name: str
    timezone: str
    locale: str = DEFAULT_LOCALE
    late_cancellation_window: str = DEFAULT_LATE_CANCELLATION_WINDOW
    booking_horizon_months: int = DEFAULT_BOOKING_HORIZON_MONTHS


@dataclass(frozen=True)
class SiteRegistered:
    site_id: UUID
    name: str
    timezone: str
    locale: str
    late_cancellation_window: str
    registered_at: datetime
    # Sites registered before the setting existed keep the default.
    booking_horizon_months: int = DEFAULT_BOOKING_HORIZON_MONTHS


SiteEvent = SiteRegistered


def register(command: RegisterSite, site_id: UUID, now: datetime) -> list[SiteEvent]:
    refuse_invalid(
        {
            "name": None if command.name.strip() else "must not be blank",
            "timezone": None
            if is_known_timezone(command.timezone)
            else "must be an IANA time zone name such as Europe/Paris",
            "locale": None if is_locale(command.locale) else "must be a BCP 47 language tag",
            "late_cancellation_window": _duration_problem(command.late_cancellation_window),
            "booking_horizon_months": None
            if 1 <= command.booking_horizon_months <= MAX_BOOKING_HORIZON_MONTHS
            else f"must be between 1 and {MAX_BOOKING_HORIZON_MONTHS}",
        }
    )
    return [
        SiteRegistered(
            site_id=site_id,
            name=command.name.strip(),
            timezone=command.timezone,
            locale=command.locale,
            late_cancellation_window=command.late_cancellation_window,
            registered_at=now,
            booking_horizon_months=command.booking_horizon_months,
        )
    ]


def _duration_problem(text: str) -> str | None:
    try:
        window = parse_duration(text)
    except ValueError as exc:
        return str(exc)
    return None if window >= timedelta(0) else "must not be negative"


def evolve(state: Site | None, event: SiteEvent) -> Site:
    match event:
        case SiteRegistered():
            return Site(
                id=event.site_id,
                name=event.name,
                timezone=event.timezone,
                locale=event.locale,
                late_cancellation_window=event.late_cancellation_window,
                registered_at=event.registered_at,
                version=1,
                booking_horizon_months=event.booking_horizon_months,
            )
    raise AssertionError(f"unhandled {event!r}")  # pragma: no cover
