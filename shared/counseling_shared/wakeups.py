"""LISTEN/NOTIFY wake-ups for the loops that sleep until the database has work for them
(outbox relay, timers, notify's lane workers)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from counseling_shared.db import DATABASE_ERRORS, connect
from counseling_shared.logs import get_logger

log = get_logger(__name__)


class Wakeable(Protocol):
    def set(self) -> None: ...


class WakeOne:
    """Wakes one idle worker of a pool per `set()` instead of all of them.

    With one shared `asyncio.Event`, every NOTIFY woke every idle worker of notify's lanes,
    and each ran a claim transaction and a next-due query to find that one of them had
    taken the message: four statements per worker per message. Here a `set()` wakes the
    longest-idle worker only; a worker that claims something calls `set()` again, so a
    burst draws in more workers one at a time. A `set()` with no worker idle is kept, and
    the next worker to go idle looks again at once instead of sleeping.
    """

    def __init__(self) -> None:
        self._idle: deque[asyncio.Event] = deque()
        self._missed = False

    def set(self) -> None:
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.is_set():
                waiter.set()
                return
        self._missed = True

    async def wait(self, timeout: float) -> bool:
        """Sleep until woken (True) or `timeout` seconds pass (False)."""
        if self._missed:
            self._missed = False
            return True
        waiter = asyncio.Event()
        self._idle.append(waiter)
        try:
            async with asyncio.timeout(max(timeout, 0.0)):
                await waiter.wait()
        except TimeoutError:
            return False
        finally:
            with contextlib.suppress(ValueError):
                self._idle.remove(waiter)
        return True


async def listen_for_wakeups(
    dsn: str,
    schema: str | None,
    channel: str,
    wake: Wakeable,
    *,
    retry_delay: float = 1.0,
    accept: Callable[[str], bool] | None = None,
) -> None:
    """Set `wake` on every `NOTIFY <channel>`, for ever; reconnect when the database goes away.

    `wake` is also set right after each (re)connection, because anything committed while no
    connection was listening sent its NOTIFY to nobody. `accept`, given a NOTIFY's payload,
    may decline to wake for it.
    """

    def on_notify(_conn: Any, _pid: int, _channel: str, payload: object) -> None:
        if accept is None or accept(str(payload)):
            wake.set()

    while True:
        conn = None
        try:
            conn = await connect(dsn, schema=schema)
            closed = asyncio.Event()
            conn.add_termination_listener(lambda *_, ev=closed: ev.set())
            await conn.add_listener(channel, on_notify)
            wake.set()
            await closed.wait()
        except DATABASE_ERRORS as exc:
            log.warning("listen_failed", channel=channel, error=repr(exc))
        finally:
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close()
        await asyncio.sleep(retry_delay)
