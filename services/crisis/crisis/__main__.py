"""`python -m crisis`: serve crisis on `CRISIS_PORT` (default 8004).

`python -m crisis rebuild-projections`: refold the projection tables from the event store.
"""

from counseling_shared.offline import service_main
from crisis.application.rebuild import rebuild_projections
from crisis.bootstrap import definition
from crisis.settings import CrisisSettings


def main() -> None:
    service_main("crisis", definition, CrisisSettings, rebuild_projections)


if __name__ == "__main__":
    main()
