"""LISTEN/NOTIFY wake-ups for the loops that sleep until the database has work for them
(outbox relay, timers, notify's lane workers)."""

from __future__ import annotations

import asyncio
import contextlib

from counseling_shared.db import DATABASE_ERRORS, connect
from counseling_shared.logs import get_logger

log = get_logger(__name__)


async def listen_for_wakeups(
    dsn: str,
    schema: str | None,
    channel: str,
    wake: asyncio.Event,
    *,
    retry_delay: float = 1.0,
) -> None:
    """Set `wake` on every `NOTIFY <channel>`, for ever; reconnect when the database goes away.

    `wake` is also set right after each (re)connection, because anything committed while no
    connection was listening sent its NOTIFY to nobody.
    """
    while True:
        conn = None
        try:
            conn = await connect(dsn, schema=schema)
            closed = asyncio.Event()
            conn.add_termination_listener(lambda *_, ev=closed: ev.set())
            await conn.add_listener(channel, lambda *_: wake.set())
            wake.set()
            await closed.wait()
        except DATABASE_ERRORS as exc:
            log.warning("listen_failed", channel=channel, error=repr(exc))
        finally:
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close()
        await asyncio.sleep(retry_delay)
