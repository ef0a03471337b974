"""`python -m notify`: serve notify on NOTIFY_PORT (default 8003)."""

from counseling_shared.service import run_service
from notify.bootstrap import definition


def main() -> None:
    run_service(definition())


if __name__ == "__main__":
    main()
