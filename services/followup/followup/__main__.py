"""`python -m followup`: serve followup on FOLLOWUP_PORT (default 8002)."""

from counseling_shared.service import run_service
from followup.bootstrap import definition


def main() -> None:
    run_service(definition())


if __name__ == "__main__":
    main()
