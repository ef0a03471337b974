"""Keeping the garbage collector's full collections off the request path.

A started service holds a large heap of objects that live as long as the process (FastAPI
routes and their pydantic models, compiled validators, modules). CPython's full (generation 2)
collection walks every one of them: in booking, at a paced 100 requests a second, one every 20
to 60 s that stopped the event loop for 65 to 270 ms, and every request waiting then ended in
the tail (4 to 60 ms, mostly under 15, once frozen; `python -m bench.paced --gc-trace` shows them).
`gc.freeze()` moves what exists once the service has started into a permanent generation that
no collection walks again, so a full collection only visits what was made since.

The thresholds (`GC_THRESHOLDS`) set how often collections run at all. CPython's 700 means a
young-generation collection every 700 allocations net of frees: in booking at a paced 100
requests a second about 12 a second, every tenth of them a middle one and every hundredth a
full one. Each is a pause of the event loop for every request in flight.
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
