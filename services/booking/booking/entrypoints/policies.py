"""Policies the entrypoints build from booking's settings."""

from booking.application.manage_links import ManageLinks
from booking.application.waitlist import OfferPolicy
from booking.domain.scheduling.offer_window import OfferWindow
from booking.domain.values import parse_duration
from booking.settings import BookingSettings
from counseling_shared.service import Runtime


def booking_settings(runtime: Runtime) -> BookingSettings:
    settings = runtime.settings
    assert isinstance(settings, BookingSettings)
    return settings


def offer_policy(runtime: Runtime) -> OfferPolicy:
    """How waitlist offers are made: their time to live, their signed accept link and the
    hours in which they are made."""
    settings = booking_settings(runtime)
    return OfferPolicy(
        ttl=parse_duration(settings.waitlist_offer_ttl),
        signer=settings.link_signer(),
        base_url=settings.booking_base_url,
        window=OfferWindow.parse(settings.waitlist_offer_hours),
    )


def manage_link_maker(runtime: Runtime) -> ManageLinks:
    """The client's signed confirm-or-cancel links (`manage_url`)."""
    settings = booking_settings(runtime)
    return ManageLinks(signer=settings.link_signer(), base_url=settings.booking_base_url)
