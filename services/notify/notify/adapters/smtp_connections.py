"""Idle SMTP connections kept open between messages, so a lane's workers do not pay a connect,
EHLO, STARTTLS and login (and a QUIT) for every message.

A connection is either in use by one send or idle here. Idle ones are handed out newest first
(the oldest are the likeliest to have been dropped by the server, and they age out); one idle
for `idle_close` seconds is closed with a QUIT, and so are all idle ones at `aclose()`.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiosmtplib

QUIT_TIMEOUT = 2.0
"""Seconds a QUIT may take when closing an idle connection; after that it is just dropped."""


class SmtpConnections:
    def __init__(self, *, idle_close: float, max_idle: int) -> None:
        self._idle_close = idle_close
        self._max_idle = max_idle
        self._idle: list[tuple[aiosmtplib.SMTP, asyncio.TimerHandle]] = []
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    def take_idle(self) -> aiosmtplib.SMTP | None:
        """The newest idle connection still open, or None (connect a new one then)."""
        while self._idle:
            client, timer = self._idle.pop()
            timer.cancel()
            if client.is_connected:
                return client
            client.close()  # the server hung up meanwhile
        return None

    def give_back(self, client: aiosmtplib.SMTP) -> None:
        """A connection whose send ended cleanly (or whose transaction was reset): keep it
        while it is open and there is room, else close it."""
        if not client.is_connected:
            client.close()
            return
        if len(self._idle) >= self._max_idle:
            self._quit_soon(client)
            return
        timer = asyncio.get_running_loop().call_later(self._idle_close, self._expire, client)
        self._idle.append((client, timer))

    def _expire(self, client: aiosmtplib.SMTP) -> None:
        for n, (idle, _timer) in enumerate(self._idle):
            if idle is client:
                del self._idle[n]
                self._quit_soon(client)
                return

    def _quit_soon(self, client: aiosmtplib.SMTP) -> None:
        task = asyncio.get_running_loop().create_task(_quit(client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """QUIT every idle connection (at shutdown); those in use close with their send."""
        while self._idle:
            client, timer = self._idle.pop()
            timer.cancel()
            self._quit_soon(client)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await client.quit(timeout=QUIT_TIMEOUT)
    finally:
        client.close()
