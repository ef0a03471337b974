"""Booking's settings: the backbone's, plus its port."""

from datetime import timedelta

from pydantic import Field, field_validator

from booking.domain.scheduling.offer_window import OfferWindow
from booking.domain.values import parse_duration
from counseling_shared.settings import ServiceSettings


class BookingSettings(ServiceSettings):
    service_name: str = "booking"
    port: int = Field(default=8001, alias="BOOKING_PORT")
    directory_queue: str = Field(
        default="booking-directory",
        alias="BOOKING_DIRECTORY_QUEUE",
        description="NATS queue group the client-directory responders of all replicas share.",
    )
    booking_base_url: str = Field(
        default="http://127.0.0.1:8001",
        alias="BOOKING_BASE_URL",
        description="Where booking is reached from outside: the base of its signed links.",
    )
    calendar_link_ttl: timedelta = Field(
        default=timedelta(days=365),
        alias="BOOKING_CALENDAR_LINK_TTL",
        description="How long a staff member's signed calendar-feed link stays valid (ISO 8601).",
    )
    hold_ttl: str = Field(
        default="PT5M",
        alias="HOLD_TTL",
        description="How long a hold (`POST /holds`) keeps its slot before it is released "
        "(ISO 8601 duration: weeks, days, hours, minutes, seconds).",
    )
    waitlist_offer_ttl: str = Field(
        default="PT15M",
        alias="WAITLIST_OFFER_TTL",
        description="How long a waitlist offer holds the freed slot for its client (ISO 8601).",
    )
    waitlist_offer_hours: str = Field(
        default="08:00-20:00",
        alias="WAITLIST_OFFER_HOURS",
        description="When waitlist offers are made, local time in each site's zone "
        "(`HH:MM-HH:MM`, or `always`): a slot freed outside them is offered when they open.",
    )

    @field_validator("waitlist_offer_hours")
    @classmethod
    def _a_window(cls, value: str) -> str:
        OfferWindow.parse(value)  # a ValueError names what is wrong
        return value

    @field_validator("hold_ttl", "waitlist_offer_ttl")
    @classmethod
    def _a_duration(cls, value: str) -> str:
        if parse_duration(value).total_seconds() <= 0:
            raise ValueError("must be a positive duration")
        return value
