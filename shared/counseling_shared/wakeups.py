"""LISTEN/NOTIFY wake-ups for the loops that sleep until the database has work for them
(outbox relay, timers, notify's lane workers)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
        self._poller: object | None = None  # the idle worker that looks by time, if any
        self._poll_at = 0.0

    def set(self) -> None:
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.is_set():
                waiter.set()
                return
        self._missed = True

    async def wait(self, timeout: float | None) -> bool:
        """Sleep until woken (True) or `timeout` seconds pass (False); None: no timeout."""
        if self._missed:
            self._missed = False
            return True
        waiter = asyncio.Event()
        self._idle.append(waiter)
        try:
            async with asyncio.timeout(None if timeout is None else max(timeout, 0.0)):
                await waiter.wait()
        except TimeoutError:
            return False
        finally:
            with contextlib.suppress(ValueError):
                self._idle.remove(waiter)
        return True

    async def poll_or_wait(self, timeout: float) -> bool:
        """Like `wait`, but of the pool's idle workers only the one due to look first keeps
        its timeout (the poller); the others sleep until a `set()`.

        Each idle worker used to look once a poll interval, most of them for nothing. The
        poller needs no help: when it wakes and claims, its `set()` draws in the next worker,
        which then becomes the poller; when it finds nothing, it polls again. A worker whose
        look is due sooner than the poller's (a retry it just scheduled) takes over."""
        deadline = asyncio.get_running_loop().time() + max(timeout, 0.0)
        if self._poller is not None and self._poll_at <= deadline:
            return await self.wait(None)
        token = object()
        self._poller, self._poll_at = token, deadline
        try:
            return await self.wait(timeout)
        finally:
            if self._poller is token:
                self._poller = None


class ListenState:
    """Whether a loop's LISTEN connection is up, so that the loop knows how long it may sleep.

    While it is up, PostgreSQL hands it every NOTIFY committed, so the loop's look by time
    only covers what no NOTIFY announces (work due by time, a lease running out) and a
    connection that died without a word: it may be long (`LISTENING_POLL`). While it is down
    (not yet connected, or reconnecting) NOTIFYs go to nobody: the loop polls at its short
    interval.
    """

    def __init__(self) -> None:
        self.up = False

    def poll(self, short: float, listening: float) -> float:
        """The loop's longest sleep now: `listening` (never shorter than `short`) while the
        LISTEN is up, else `short`."""
        return max(short, listening) if self.up else short


async def listen_for_wakeups(
    dsn: str,
    schema: str | None,
    channel: str,
    wake: Wakeable,
    *,
    retry_delay: float = 1.0,
    accept: Callable[[str], bool] | None = None,
    state: ListenState | None = None,
) -> None:
    """Set `wake` on every `NOTIFY <channel>`, for ever; reconnect when the database goes away.

    `wake` is also set right after each (re)connection, because anything committed while no
    connection was listening sent its NOTIFY to nobody. `accept`, given a NOTIFY's payload,
    may decline to wake for it. `state.up` says whether the LISTEN is in place; when it goes
    down, `wake` is set too, so that a loop asleep for a long poll goes back to short ones.
    """
    await listen_on_channels(
        dsn, schema, {channel: Wakeup(wake, accept)}, retry_delay=retry_delay, state=state
    )


@dataclass(frozen=True)
class Wakeup:
    """What a NOTIFY on one channel wakes, and whether its payload is worth waking for."""

    wake: Wakeable
    accept: Callable[[str], bool] | None = None


async def listen_on_channels(
    dsn: str,
    schema: str | None,
    wakeups: Mapping[str, Wakeup],
    *,
    retry_delay: float = 1.0,
    state: ListenState | None = None,
) -> None:
    """`listen_for_wakeups` for several channels on one connection (one LISTEN connection
    where a service has several timer tables): each channel wakes its own loop; all of them
    are woken on each (re)connection and when the connection goes down."""

    def on_notify(_conn: Any, _pid: int, channel: str, payload: object) -> None:
        wakeup = wakeups.get(channel)
        if wakeup is not None and (wakeup.accept is None or wakeup.accept(str(payload))):
            wakeup.wake.set()

    def wake_all() -> None:
        for wakeup in wakeups.values():
            wakeup.wake.set()

    while True:
        conn = None
        try:
            conn = await connect(dsn, schema=schema)
            closed = asyncio.Event()
            conn.add_termination_listener(lambda *_, ev=closed: ev.set())
            for channel in wakeups:
                await conn.add_listener(channel, on_notify)
            if state is not None:
                state.up = True
            wake_all()
            await closed.wait()
        except DATABASE_ERRORS as exc:
            log.warning("listen_failed", channel=",".join(wakeups), error=repr(exc))
        finally:
            if state is not None and state.up:
                state.up = False
                wake_all()
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close()
        await asyncio.sleep(retry_delay)
