"""notify's webhook API: subscriptions, their deliveries (with every attempt), and replays."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import AnyHttpUrl, BaseModel, Field, field_validator

from counseling_shared.envelope import REGISTRY
from counseling_shared.http.bodies import RequestBody
from counseling_shared.http.dependencies import Caller, Person
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import PAGED, Page
from counseling_shared.http.problems import Conflict, NotFound
from counseling_shared.service import Runtime, runtime_of
from notify.adapters import webhook_store
from notify.adapters.webhook_store import Subscription
from notify.domain.webhooks.delivery import DeliveryStatus, SubscriptionStatus
from notify.domain.webhooks.signing import new_secret

router = APIRouter(tags=["webhooks"])

EventType = Annotated[str, Field(min_length=1, max_length=100)]


class WebhookBody(RequestBody):
    site_id: UUID
    url: AnyHttpUrl = Field(description="Where each event is `POST`ed (http or https).")
    event_types: list[EventType] = Field(
        min_length=1,
        max_length=50,
        description="CloudEvents types to receive, e.g. `AppointmentBooked`.",
    )

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(REGISTRY.event_types))
        if unknown:
            raise ValueError(f"unknown event types: {', '.join(unknown)}")
        return sorted(set(value))


class WebhookOut(BaseModel):
    id: UUID
    site_id: UUID
    url: str
    event_types: list[str]
    status: SubscriptionStatus = Field(description="`disabled` after a receiver answered 410.")
    disabled_reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, s: Subscription) -> "WebhookOut":
        return cls(
            id=s.id,
            site_id=s.site_id,
            url=s.url,
            event_types=list(s.event_types),
            status=s.status,
            disabled_reason=s.disabled_reason,
            created_at=s.created_at,
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="`whsec_…`: verifies `webhook-signature`. Shown only in this answer."
    )


class AttemptOut(BaseModel):
    number: int
    at: datetime
    status_code: int | None = Field(description="The receiver's answer; none on a timeout.")
    error: str | None = Field(description="`http_timeout` or `http_unreachable`, else none.")
    duration_ms: int


class DeliveryOut(BaseModel):
    id: UUID = Field(description="Also the `webhook-id` header of every attempt.")
    event_id: UUID
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    queued_at: datetime
    next_attempt_at: datetime | None = Field(description="When it is tried next, if pending.")
    delivered_at: datetime | None
    failed_at: datetime | None
    replays: int
    attempt_log: list[AttemptOut] = Field(description="Every attempt, oldest first.")


async def _subscription(runtime: Runtime, caller: Caller, webhook_id: UUID) -> Subscription:
    async with runtime.db().acquire() as conn:
        found = await webhook_store.get_subscription(conn, webhook_id)
    if found is None:
        raise NotFound("webhook", webhook_id)
    caller.require_site(found.site_id)
    return found


@router.post("/webhooks", status_code=201, response_model=WebhookCreated)
async def post_webhook(request: Request, caller: Person, body: WebhookBody) -> WebhookCreated:
    """Subscribe `url` to the site's events of `event_types`. Each event is `POST`ed as its
    CloudEvent, signed as Standard Webhooks says (`webhook-id`, `webhook-timestamp`,
    `webhook-signature`), retried with back-off for 24 h; a 410 disables the subscription."""
    caller.require_site(body.site_id)
    runtime = runtime_of(request)
    async with runtime.db().acquire() as conn:
        secret = new_secret()
        created = await webhook_store.add_subscription(
            conn,
            site_id=body.site_id,
            url=str(body.url),
            event_types=body.event_types,
            secret=secret,
            created_by=caller.actor.id,
            now=runtime.clock.now(),
        )
    return WebhookCreated(**WebhookOut.of(created).model_dump(), secret=secret)


@router.get("/webhooks", response_model=list[WebhookOut], responses=PAGED)
async def list_webhooks(
    request: Request, caller: Caller, page: Page, site_id: UUID | None = None
) -> list[WebhookOut]:
    """The subscriptions of the key's sites (or of `site_id`), oldest first, without secrets."""
    after = page.after(datetime, UUID)
    async with runtime_of(request).db().acquire() as conn:
        found = await webhook_store.list_subscriptions(
            conn,
            site_id=site_id,
            visible_sites=list(caller.site_ids) if caller.site_ids is not None else None,
            limit=page.fetch,
            after=(after[0], after[1]) if after else None,
        )
    return [WebhookOut.of(s) for s in page.serve(found, key=lambda s: (s.created_at, s.id))]


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut, responses=problem_responses(404))
async def get_webhook(request: Request, caller: Caller, webhook_id: UUID) -> WebhookOut:
    return WebhookOut.of(await _subscription(runtime_of(request), caller, webhook_id))


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=list[DeliveryOut],
    responses={**PAGED, **problem_responses(404)},
)
async def list_deliveries(
    request: Request, caller: Caller, webhook_id: UUID, page: Page
) -> list[DeliveryOut]:
    """Newest first, each with every attempt, a page at a time."""
    runtime = runtime_of(request)
    await _subscription(runtime, caller, webhook_id)
    before = page.after(datetime, UUID)
    async with runtime.db().acquire() as conn:
        rows = await webhook_store.deliveries(
            conn, webhook_id, page.fetch, (before[0], before[1]) if before else None
        )
        served = page.serve(rows, key=lambda r: (r["queued_at"], r["id"]))
        attempts = await webhook_store.attempts_of(conn, [r["id"] for r in served])
    log: dict[UUID, list[AttemptOut]] = {}
    for a in attempts:
        log.setdefault(a["delivery_id"], []).append(
            AttemptOut(
                number=a["number"],
                at=a["at"],
                status_code=a["status_code"],
                error=a["error"],
                duration_ms=a["duration_ms"],
            )
        )
    return [
        DeliveryOut(
            id=r["id"],
            event_id=r["event_id"],
            event_type=r["event_type"],
            status=r["status"],
            attempts=r["attempts"],
            last_status_code=r["last_status_code"],
            last_error=r["last_error"],
            queued_at=r["queued_at"],
            next_attempt_at=r["next_attempt_at"] if r["status"] == "pending" else None,
            delivered_at=r["delivered_at"],
            failed_at=r["failed_at"],
            replays=r["replays"],
            attempt_log=log.get(r["id"], []),
        )
        for r in served
    ]


class ReplayAccepted(BaseModel):
    delivery_id: UUID
    status: DeliveryStatus


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=ReplayAccepted,
    responses=problem_responses(
        404, s409="The delivery is still pending, or the subscription is disabled."
    ),
)
async def replay_delivery(
    request: Request, caller: Person, webhook_id: UUID, delivery_id: UUID
) -> ReplayAccepted:
    """Send a delivered or failed delivery again: the same body and `webhook-id` (so a
    receiver can tell it has seen it), at the back of the subscription's queue, with a fresh
    24 h of retries. Earlier attempts stay on record."""
    runtime = runtime_of(request)
    subscription = await _subscription(runtime, caller, webhook_id)
    if subscription.status is not SubscriptionStatus.ACTIVE:
        raise Conflict("The subscription is disabled: its receiver answered 410.")
    async with runtime.db().acquire() as conn, conn.transaction():
        row = await webhook_store.delivery_for_update(conn, webhook_id, delivery_id)
        if row is None:
            raise NotFound("delivery", delivery_id)
        if row["status"] == DeliveryStatus.PENDING:
            raise Conflict("The delivery is still pending: it is tried again on its own.")
        await webhook_store.requeue(conn, delivery_id, runtime.clock.now())
    return ReplayAccepted(delivery_id=delivery_id, status=DeliveryStatus.PENDING)
