"""booking's durable timers: holds running out, and slots freed outside the waitlist's offer
window waiting for it to open. Two tables, two schedulers, one LISTEN connection."""

from booking.entrypoints.deferred_offer_timer import deferred_scheduler_for
from booking.entrypoints.hold_timer import hold_scheduler_for
from counseling_shared.scheduler import run_together
from counseling_shared.service import Runtime


async def timers(runtime: Runtime) -> None:
    """Releases each hold within a second of its expiry (offering its slot to the waitlist),
    and offers each deferred slot within a second of the offer window's opening."""
    await run_together(hold_scheduler_for(runtime), deferred_scheduler_for(runtime))
