"""Pages before bulk mail inside one notify process.

The lanes have their own workers, connections and HTTP clients, but they share the process's
event loop, the database server and the machine's CPUs: behind a bulk backlog every hop of a
page took two to three times as long as idle. While a page is being delivered, the bulk lane
claims nothing new (the messages it is already sending go on); a bulk message can wait a
few tens of milliseconds, a page should not. A hold lasts at most `longest_hold` seconds, so a
stream of pages never stops the bulk lane for long.
"""

import asyncio
import contextlib
from collections.abc import Iterator

from counseling_shared.waiting import wait_for_wake


class PagesFirst:
    def __init__(self, longest_hold: float = 1.0) -> None:
        self._in_flight = 0
        self._none = asyncio.Event()
        self._none.set()
        self._longest_hold = longest_hold

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextlib.contextmanager
    def delivering(self) -> Iterator[None]:
        """Around a page's delivery (crisis lane)."""
        self._in_flight += 1
        self._none.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._none.set()

    async def wait_for_pages(self) -> None:
        """Before a bulk claim: until no page is in flight, `longest_hold` seconds at most."""
        if self._in_flight:
            await wait_for_wake(self._none, self._longest_hold)
