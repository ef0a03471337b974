"""Pages before bulk mail: the bulk lane waits while a page is delivered, but not for ever."""

import asyncio
import time

from notify.entrypoints.page_priority import PagesFirst


async def test_a_bulk_claim_waits_for_the_page_in_flight_to_be_delivered() -> None:
    pages = PagesFirst(longest_hold=30.0)
    with pages.delivering():
        waiting = asyncio.create_task(pages.wait_for_pages())
        await asyncio.sleep(0.05)
        assert not waiting.done()
    await asyncio.wait_for(waiting, timeout=1.0)
    assert pages.in_flight == 0


async def test_pages_one_after_another_hold_the_bulk_lane_for_longest_hold_at_most() -> None:
    pages = PagesFirst(longest_hold=0.1)
    with pages.delivering():
        began = time.monotonic()
        await pages.wait_for_pages()
        waited = time.monotonic() - began
    assert 0.05 < waited < 1.0


async def test_without_a_page_in_flight_a_bulk_claim_does_not_wait() -> None:
    pages = PagesFirst(longest_hold=30.0)
    await asyncio.wait_for(pages.wait_for_pages(), timeout=0.05)
