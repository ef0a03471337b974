"""Booking's settings: the backbone's, plus its port."""

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
