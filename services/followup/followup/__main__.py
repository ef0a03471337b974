"""`python -m followup`: serve followup on `FOLLOWUP_PORT` (default 8002).

`python -m followup rebuild-projections`: refold the projection tables from the event store.
"""

from counseling_shared.offline import service_main
from followup.application.rebuild import rebuild_projections
from followup.bootstrap import definition
from followup.settings import FollowupSettings


def main() -> None:
    service_main("followup", definition, FollowupSettings, rebuild_projections)


if __name__ == "__main__":
    main()
