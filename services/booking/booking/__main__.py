"""`python -m booking`: serve booking on `BOOKING_PORT` (default 8001)."""

from booking.bootstrap import definition
from counseling_shared.service import run_service


def main() -> None:
    run_service(definition())


if __name__ == "__main__":
    main()
