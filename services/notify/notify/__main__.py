"""`python -m notify`: serve notify on `NOTIFY_PORT` (default 8003).

`python -m notify rebuild-projections`: refold the projection tables from the event store.
"""

from counseling_shared.offline import service_main
from notify.application.rebuild import rebuild_projections
from notify.bootstrap import definition
from notify.settings import NotifySettings


def main() -> None:
    service_main("notify", definition, NotifySettings, rebuild_projections)


if __name__ == "__main__":
    main()
