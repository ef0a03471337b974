from counseling_shared.service import run_service
from crisis.bootstrap import definition


def main() -> None:
    run_service(definition())


if __name__ == "__main__":
    main()
