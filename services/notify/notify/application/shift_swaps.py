"""On-call shift swap notices (crisis's `ShiftSwap*` events): one bulk-lane email to each staff
member concerned, in their locale and their site's zone, held by their quiet hours like any
bulk message. Never the crisis lane: a swap is planning, not a page.

- requested: to each colleague it is offered to;
- taken: to the requester (who now is off call for it), naming who took it, and to the taker
  (an admin may have accepted for them, so they may not know they are on call now);
- cancelled: to the colleagues it was offered to;
- expired: to the requester, who stays on call.

The events carry ids only; the staff names come from notify's own copy of booking's staff."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from counseling_shared.envelope import Envelope
from counseling_shared.events import (
    IntegrationEvent,
    ShiftSwapCancelled,
    ShiftSwapExpired,
    ShiftSwapRequested,
    ShiftSwapTaken,
)
from counseling_shared.unit_of_work import UnitOfWork
from notify.adapters.staff_names import staff_names
from notify.application.staff_emails import email_staff
from notify.domain.codes import Template


async def on_shift_swap_requested(
    uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
) -> None:
    assert isinstance(event, ShiftSwapRequested)
    await _email(uow, envelope, event, event.offered_to, Template.SHIFT_SWAP_REQUESTED)


async def on_shift_swap_taken(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
    assert isinstance(event, ShiftSwapTaken)
    await _email(uow, envelope, event, [event.requester_id], Template.SHIFT_SWAP_TAKEN)
    await _email(uow, envelope, event, [event.taken_by], Template.SHIFT_SWAP_ON_CALL)


async def on_shift_swap_cancelled(
    uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
) -> None:
    assert isinstance(event, ShiftSwapCancelled)
    await _email(uow, envelope, event, event.offered_to, Template.SHIFT_SWAP_CANCELLED)


async def on_shift_swap_expired(
    uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
) -> None:
    assert isinstance(event, ShiftSwapExpired)
    await _email(uow, envelope, event, [event.requester_id], Template.SHIFT_SWAP_EXPIRED)


async def _email(
    uow: UnitOfWork,
    envelope: Envelope,
    event: ShiftSwapRequested,
    recipients: Iterable[UUID],
    template: Template,
) -> None:
    taker = event.taken_by if isinstance(event, ShiftSwapTaken) else None
    names = await staff_names(uow.conn, [event.requester_id, *([taker] if taker else [])])
    params: dict[str, Any] = {
        "swap_request_id": str(event.swap_request_id),
        "schedule_id": str(event.schedule_id),
        "requester_id": str(event.requester_id),
        "requester_name": names.get(event.requester_id),
        "start": event.start.isoformat(),
        "end": event.end.isoformat(),
    }
    if taker is not None:
        params["taken_by"] = str(taker)
        params["taker_name"] = names.get(taker)
    await email_staff(uow, envelope, recipients, event.site_id, template, params)
