"""Keeping the garbage collector's full collections off the request path.

A started service holds a large heap of objects that live as long as the process (FastAPI
routes and their pydantic models, compiled validators, modules). CPython's full (generation 2)
collection walks every one of them: in booking, at a paced 100 requests a second, one every 20
to 60 s that stopped the event loop for 65 to 270 ms, and every request waiting then ended in
the tail (4 to 60 ms, mostly under 15, once frozen; `python -m bench.paced --gc-trace` shows them).
`gc.freeze()` moves what exists once the service has started into a permanent generation that
no collection walks again, so a full collection only visits what was made since.

The thresholds (`GC_THRESHOLDS`, CPython's `700,10,10` by default) set how often collections
run at all: in booking at a paced 100 requests a second a young collection about 9 times a
second (0.3 ms of CPU each), a middle one every second (1.4 ms) and, once frozen, a full one
every 15 s or so (8 to 11 ms). `10000,10,10` halved the collector's CPU but its longest pause
grew to 24 ms (a middle collection), `3000,10,10` to 13 ms: not kept, the tail sees the
longest pause, not the sum.
"""

import gc

from counseling_shared.logs import get_logger

log = get_logger(__name__)


def freeze_startup_heap() -> int:
    """Collect once (garbage frozen would never be freed), then freeze every object left.

    Returns how many objects are frozen.
    """
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("heap_frozen", objects=frozen)
    return frozen


def tune_collector(thresholds: tuple[int, int, int]) -> None:
    """The collector's thresholds from now on (`gc.set_threshold`)."""
    gc.set_threshold(*thresholds)
    log.info("gc_thresholds", thresholds=list(thresholds))
