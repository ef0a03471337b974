"""Booking's settings: the backbone's, plus its port."""

from datetime import timedelta

from pydantic import Field

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
