"""notify's HTTP API: notifications (read) and recipient preferences."""

from datetime import datetime, time
from typing import Any, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from counseling_shared import audit
from counseling_shared.codes import Channel, NotificationChannel
from counseling_shared.eventstore import ConcurrencyConflict
from counseling_shared.http.auth import Principal
from counseling_shared.http.bodies import RequestBody
from counseling_shared.http.dependencies import Caller
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import PAGED, Page
from counseling_shared.http.problems import Conflict, NotFound, Problem, Unprocessable
from counseling_shared.service import Runtime, runtime_of
from counseling_shared.waiting import poll_until
from notify.adapters import directory_store, notification_queries, preference_store
from notify.application.preferences import set_recipient_preferences
from notify.domain.codes import (
    AttemptOutcome,
    HoldReason,
    Lane,
    NotificationStatus,
    ReceiptStatus,
    RecipientKind,
    Template,
)
from notify.domain.preferences import RecipientPreferences
from notify.domain.quiet_hours import QuietHours

router = APIRouter(tags=["notify"])

CLOCK_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class QuietHoursBody(RequestBody):
    """A daily window in the recipient's own time zone; `end` before `start` wraps midnight."""

    model_config = ConfigDict(json_schema_extra={"example": {"start": "21:00", "end": "08:00"}})

    start: str = Field(pattern=CLOCK_TIME, description="Local wall time HH:MM.")
    end: str = Field(pattern=CLOCK_TIME, description="Local wall time HH:MM.")

    @model_validator(mode="after")
    def _not_empty(self) -> "QuietHoursBody":
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self

    def window(self) -> QuietHours:
        return QuietHours(time.fromisoformat(self.start), time.fromisoformat(self.end))

    @classmethod
    def of(cls, quiet: QuietHours | None) -> "QuietHoursBody | None":
        if quiet is None:
            return None
        return cls(start=quiet.start.strftime("%H:%M"), end=quiet.end.strftime("%H:%M"))


class PreferencesBody(RequestBody):
    quiet_hours: QuietHoursBody | None = Field(
        default=None, description="Hold follow-ups and confirmations in this window (not pages)."
    )
    channel: Channel | None = Field(
        default=None,
        description="Overrides every other channel choice; `phone` is served by SMS.",
    )


class Preferences(BaseModel):
    recipient_id: UUID
    quiet_hours: QuietHoursBody | None
    channel: Channel | None
    updated_at: datetime | None

    @classmethod
    def of(cls, prefs: RecipientPreferences) -> "Preferences":
        return cls(
            recipient_id=prefs.recipient_id,
            quiet_hours=QuietHoursBody.of(prefs.quiet_hours),
            channel=prefs.channel,
            updated_at=prefs.updated_at,
        )


class NotificationSummary(BaseModel):
    id: UUID
    recipient_id: UUID
    recipient_kind: RecipientKind
    site_id: UUID
    channel: NotificationChannel = Field(description="The channel tried last (or planned).")
    template: Template
    kind: str | None = Field(description="The follow-up kind, for `followup_due`.")
    status: NotificationStatus
    attempts: int = Field(description="Delivery attempts so far.")
    sent_at: datetime | None
    failed_at: datetime | None
    cause_event_id: UUID = Field(description="The event that asked for this message.")
    page_id: UUID | None
    lane: Lane
    next_attempt_at: datetime | None = Field(description="When it is tried next, if pending.")
    held_for: HoldReason | None = Field(
        description="Why it waits, when held (quiet hours; a page's call: PAGE_CALL_DELAY)."
    )
    last_error: str | None = Field(
        description="Error code of the last failed attempt, or why a pending message was deferred"
        " (`directory_unavailable`, `recipient_unknown`: notify's own side did not answer)."
    )
    created_at: datetime

    @classmethod
    def of(cls, row: asyncpg.Record) -> "NotificationSummary":
        pending = row["status"] == NotificationStatus.PENDING
        return cls(
            id=row["id"],
            recipient_id=row["recipient_id"],
            recipient_kind=row["recipient_kind"],
            site_id=row["site_id"],
            channel=row["channel"],
            template=row["template"],
            kind=row["kind"],
            status=row["status"],
            attempts=row["attempts"],
            sent_at=row["sent_at"],
            failed_at=row["failed_at"],
            cause_event_id=row["cause_event_id"],
            page_id=row["page_id"],
            lane=row["lane"],
            next_attempt_at=row["next_attempt_at"] if pending else None,
            held_for=row["hold_reason"] if pending else None,
            last_error=row["last_error"],
            created_at=row["created_at"],
        )


class Attempt(BaseModel):
    number: int
    at: datetime
    channel: NotificationChannel
    outcome: AttemptOutcome
    error_code: str | None


class DeliveryReceipt(BaseModel):
    """The last delivery receipt the provider sent (`POST /inbound/sms/status`)."""

    status: ReceiptStatus
    error_code: str | None = Field(description="The provider's or carrier's code, if any.")
    at: datetime = Field(description="When notify received it.")
    provider: Literal["primary", "fallback"]

    @classmethod
    def of(cls, row: asyncpg.Record) -> "DeliveryReceipt | None":
        if row["receipt_status"] is None:
            return None
        return cls(
            status=row["receipt_status"],
            error_code=row["receipt_error_code"],
            at=row["receipt_at"],
            provider=row["receipt_provider"],
        )


class NotificationDetail(NotificationSummary):
    attempt_log: list[Attempt] = Field(description="Every attempt, oldest first.")
    receipt: DeliveryReceipt | None = Field(
        default=None,
        description="The last delivery receipt for an SMS or messaging message, if any came.",
    )


@router.get("/notifications", response_model=list[NotificationSummary], responses=PAGED)
async def list_notifications(
    request: Request,
    caller: Caller,
    page: Page,
    recipient_id: UUID | None = None,
    status: NotificationStatus | None = None,
    lane: Lane | None = None,
    template: Template | None = None,
) -> list[NotificationSummary]:
    """Newest first, a page at a time (`Link` and `Next-Cursor` headers when more follow)."""
    before = page.after(datetime, UUID)
    async with runtime_of(request).db().acquire() as conn:
        rows = await notification_queries.find(
            conn,
            recipient_id=recipient_id,
            status=status.value if status else None,
            lane=lane.value if lane else None,
            template=template.value if template else None,
            site_ids=caller.site_ids,
            limit=page.fetch,
            before=(before[0], before[1]) if before else None,
        )
    served = page.serve(rows, key=lambda r: (r["created_at"], r["id"]))
    return [NotificationSummary.of(r) for r in served]


@router.get(
    "/notifications/{notification_id}",
    response_model=NotificationDetail,
    responses=problem_responses(404),
)
async def get_notification(
    request: Request, caller: Caller, notification_id: UUID
) -> NotificationDetail:
    async with runtime_of(request).db().acquire() as conn:
        row = await notification_queries.get(conn, notification_id)
        if row is None:
            raise NotFound("notification", notification_id)
        caller.require_site(row["site_id"])
        attempts = await notification_queries.attempts(conn, notification_id)
    summary = NotificationSummary.of(row)
    return NotificationDetail(
        **summary.model_dump(),
        attempt_log=[Attempt(**dict(a)) for a in attempts],
        receipt=DeliveryReceipt.of(row),
    )


@router.put(
    "/recipients/{recipient_id}/preferences",
    response_model=Preferences,
    responses=problem_responses(s409="Changed by another request meanwhile; try again."),
)
async def put_preferences(
    request: Request, caller: Caller, recipient_id: UUID, body: PreferencesBody
) -> Preferences:
    """A recipient (client or staff member) booking has not registered is a 422 (to a key of
    every site; a site-bound key gets the 403 it gets for another site's recipient)."""
    runtime = runtime_of(request)
    if caller.site_ids is not None:
        # Site access first, at once: waiting for an unknown id would tell another site's key
        # which ids exist (422 vs 403, or by the time taken) and cost 3 s of polling each.
        await _require_recipient_access(runtime.db(), caller, recipient_id)
    await _require_known_recipient(runtime, recipient_id)
    await _require_recipient_access(runtime.db(), caller, recipient_id)
    try:
        saved = await set_recipient_preferences(
            runtime.db(),
            runtime.clock,
            recipient_id,
            body.quiet_hours.window() if body.quiet_hours else None,
            body.channel,
        )
    except ConcurrencyConflict:
        raise Conflict("The preferences changed while this request ran; try again.") from None
    return Preferences.of(saved)


@router.get(
    "/recipients/{recipient_id}/preferences",
    response_model=Preferences,
    responses=problem_responses(404),
)
async def get_preferences(request: Request, caller: Caller, recipient_id: UUID) -> Preferences:
    pool = runtime_of(request).db()
    known_site = await _require_recipient_access(pool, caller, recipient_id)
    async with pool.acquire() as conn:
        prefs = await preference_store.load(conn, recipient_id)
    if prefs is None:
        if known_site is None:
            raise NotFound("recipient", recipient_id)
        prefs = RecipientPreferences(recipient_id)  # known, nothing set: the defaults
    return Preferences.of(prefs)


async def _require_known_recipient(runtime: Runtime, recipient_id: UUID) -> None:
    """notify learns clients and staff from booking's events: one named a moment after booking
    registered it is waited for (`KNOWN_ID_WAIT_SECONDS`), then refused with a 422."""

    async def known() -> bool:
        async with runtime.db().acquire() as conn:
            return await directory_store.recipient_site_id(conn, recipient_id) is not None

    if not await poll_until(known, runtime.settings.known_id_wait_seconds):
        message = f"No client or staff member with id {recipient_id} is known."
        raise Unprocessable(message, [{"field": "recipient_id", "message": message}])


async def _require_recipient_access(
    pool: "asyncpg.Pool[Any]", caller: Principal, recipient_id: UUID
) -> UUID | None:
    """A site-bound key may touch recipients of its sites only; a recipient notify has not
    heard of yet (booking's event still on its way) needs a key for every site."""
    async with pool.acquire() as conn:
        site_id = await directory_store.recipient_site_id(conn, recipient_id)
        if await directory_store.is_client(conn, recipient_id):
            audit.note_client(recipient_id)  # a client's preferences are client data
    if site_id is not None:
        caller.require_site(site_id)
    elif caller.site_ids is not None:
        raise Problem(
            403, "forbidden", "Forbidden", "This recipient is not known at this key's sites."
        )
    return site_id
