"""booking's SiteClosuresChanged: crisis records the site's closed days for its schedules."""

from __future__ import annotations

from datetime import datetime

from counseling_shared import events as public
from counseling_shared.inbox import PermanentFailure
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters import site_closures
from crisis.domain.site_closures import BadClosures, Closure, decide_record


async def site_closures_changed(
    uow: UnitOfWork, event: public.SiteClosuresChanged, changed_at: datetime
) -> None:
    """Record the new list (`changed_at`: booking's event time). A list that cannot be right
    raises `PermanentFailure` (dead-lettered at once, with the reason)."""
    closures = [Closure(c.from_, c.to, c.kind) for c in event.closures]
    stored = await site_closures.load(uow.conn, event.site_id)
    try:
        events = decide_record(
            stored.recorded if stored else None, event.site_id, closures, changed_at
        )
    except BadClosures as exc:
        raise PermanentFailure(f"SiteClosuresChanged for site {event.site_id}: {exc}") from None
    await site_closures.save(uow, stored, events)
