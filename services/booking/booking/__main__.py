"""`python -m booking`: serve booking on `BOOKING_PORT` (default 8001).

`python -m booking rebuild-projections`: refold the projection tables from the event store.
"""

import json
import sys

from booking.application.rebuild import rebuild_projections
from booking.bootstrap import definition
from booking.settings import BookingSettings
from counseling_shared.db import connect
from counseling_shared.offline import run_database_command
from counseling_shared.service import run_service


async def _rebuild(settings: BookingSettings) -> None:
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
            run_database_command(_rebuild(BookingSettings()), "rebuild-projections")
        case _:
            sys.exit("usage: python -m booking [rebuild-projections]")


if __name__ == "__main__":
    main()
