"""`python -m booking`: serve booking on `BOOKING_PORT` (default 8001).

`python -m booking rebuild-projections`: refold the projection tables from the event store.
"""

from booking.application.rebuild import rebuild_projections
from booking.bootstrap import definition
from booking.settings import BookingSettings
from counseling_shared.offline import service_main


def main() -> None:
    service_main("booking", definition, BookingSettings, rebuild_projections)


if __name__ == "__main__":
    main()
