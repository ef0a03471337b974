"""`python -m crisis`: serve crisis on CRISIS_PORT (default 8004).

`python -m crisis rebuild-projections`: refold the projection tables from the event store.
"""

import json
import sys

from counseling_shared.db import connect
from counseling_shared.offline import run_database_command
from counseling_shared.service import run_service
from crisis.application.rebuild import rebuild_projections
from crisis.bootstrap import definition
from crisis.settings import CrisisSettings


async def _rebuild(settings: CrisisSettings) -> None:
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
            run_database_command(_rebuild(CrisisSettings()), "rebuild-projections")
        case _:
            sys.exit("usage: python -m crisis [rebuild-projections]")


if __name__ == "__main__":
    main()
