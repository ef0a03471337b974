"""`python -m notify`: serve notify on NOTIFY_PORT (default 8003).

`python -m notify rebuild-projections`: refold the projection tables from the event store.
"""

import json
import sys

from counseling_shared.db import connect
from counseling_shared.offline import run_database_command
from counseling_shared.service import run_service
from notify.application.rebuild import rebuild_projections
from notify.bootstrap import definition
from notify.settings import NotifySettings


async def _rebuild(settings: NotifySettings) -> None:
    conn = await connect(settings.migration_dsn, schema=settings.database_schema)
    try:
        counts = await rebuild_projections(conn)
    finally:
        await conn.close()
    print(json.dumps({"rebuilt": counts}))


def main() -> None:
    match sys.argv[1:]:
        case []:
            run_service(definition())
        case ["rebuild-projections"]:
            run_database_command(_rebuild(NotifySettings()), "rebuild-projections")
        case _:
            sys.exit("usage: python -m notify [rebuild-projections]")


if __name__ == "__main__":
    main()
