"""notify's webhook API: subscriptions, their deliveries (with every attempt), and replays.

Each command runs in a `unit_of_work`, so its `Idempotency-Key` is held and recorded with it. A
replay of a command whose answer shows a secret reads it again through a replay-only route
(`ReplayOnly`): the same caller, with the same key, within the key's lifetime, and nobody else,
sees the secret in use now (a later rotation's, if one came since)."""

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal, Self
from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import AnyHttpUrl, BaseModel, Field, field_validator, model_validator

from counseling_shared.envelope import REGISTRY
from counseling_shared.http.bodies import RequestBody
from counseling_shared.http.dependencies import Caller, Person
from counseling_shared.http.idempotency import REPLAYED, ReplayOnly
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import PAGED, Page
from counseling_shared.http.problems import Conflict, NotFound, Unprocessable
from counseling_shared.service import Runtime, runtime_of
from counseling_shared.unit_of_work import UnitOfWork, audited_transaction, unit_of_work
from notify.adapters import webhook_store
from notify.adapters.webhook_addresses import RefusedAddress, check_public
from notify.adapters.webhook_store import Backlog, Subscription
from notify.domain.webhooks.delivery import DeliveryStatus, SubscriptionStatus
from notify.domain.webhooks.signing import new_secret
from notify.settings import NotifySettings

if TYPE_CHECKING:
    from counseling_shared.db import Connection

router = APIRouter(tags=["webhooks"])
SOURCE = "notify"

EventType = Annotated[str, Field(min_length=1, max_length=100)]


def _known_types(value: list[str]) -> list[str]:
    unknown = sorted(set(value) - set(REGISTRY.event_types))
    if unknown:
        raise ValueError(f"unknown event types: {', '.join(unknown)}")
    return sorted(set(value))


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
        return _known_types(value)


class WebhookChange(RequestBody):
    """What to change; a field left out stays as it is."""

    url: AnyHttpUrl | None = Field(
        default=None, description="Where each event is `POST`ed from now on, queued ones too."
    )
    event_types: list[EventType] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="The CloudEvents types to receive from now on.",
    )
    status: Literal["active"] | None = Field(
        default=None,
        description="`active` re-enables a disabled subscription. After a 410 its deliveries"
        " given up then stay failed (replay them to send them again); after"
        " `receiver_failing` the deliveries that waited go out, in order.",
    )

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _known_types(value)

    @model_validator(mode="after")
    def _something_given(self) -> Self:
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"may be left out but not null: {', '.join(nulls)}")
        if not self.model_fields_set:
            raise ValueError("name at least one of url, event_types, status")
        return self


class WebhookOut(BaseModel):
    id: UUID
    site_id: UUID
    url: str
    event_types: list[str]
    status: SubscriptionStatus = Field(
        description="`disabled` after its receiver answered 410, or failed every attempt for"
        " `WEBHOOK_DISABLE_AFTER` (5 days)."
    )
    disabled_reason: str | None = Field(
        description="`receiver_gone` (a 410: what was queued was given up) or"
        " `receiver_failing` (what was queued waits for `PATCH` `status: active`)."
    )
    created_at: datetime
    previous_secret_expires_at: datetime | None = Field(
        default=None,
        description="Until then deliveries are also signed with the secret in use before the"
        " last rotation.",
    )
    pending_deliveries: int = Field(
        default=0, description="Deliveries queued and not yet delivered or given up."
    )
    oldest_pending_queued_at: datetime | None = Field(
        default=None, description="When the oldest of them was queued; none if nothing waits."
    )
    retrying_since: datetime | None = Field(
        default=None,
        description="Set while the oldest pending delivery has been tried and every attempt"
        " failed: when it was first tried. Deliveries go out in order, so the others wait"
        " behind it until it is delivered or given up (`retrying_until`).",
    )
    retrying_until: datetime | None = Field(
        default=None,
        description="When that delivery is given up at the latest (`WEBHOOK_RETRY_WINDOW`"
        " after its first attempt); each delivery behind it then gets its own window.",
    )
    retrying_last_status_code: int | None = Field(
        default=None, description="The receiver's last answer to that delivery."
    )
    retrying_last_error: str | None = Field(
        default=None, description="`http_timeout`, `http_unreachable`, … for that delivery."
    )

    @classmethod
    def of(
        cls, s: Subscription, backlog: Backlog | None = None, window: timedelta | None = None
    ) -> "WebhookOut":
        b = backlog or Backlog()
        retrying = b.head_first_attempt_at
        return cls(
            id=s.id,
            site_id=s.site_id,
            url=s.url,
            event_types=list(s.event_types),
            status=s.status,
            disabled_reason=s.disabled_reason,
            created_at=s.created_at,
            previous_secret_expires_at=s.previous_secret_expires_at,
            pending_deliveries=b.pending,
            oldest_pending_queued_at=b.oldest_queued_at,
            retrying_since=retrying,
            retrying_until=retrying + window if retrying and window else None,
            retrying_last_status_code=b.head_last_status_code if retrying else None,
            retrying_last_error=b.head_last_error if retrying else None,
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="`whsec_…`: verifies `webhook-signature`. Shown only in this answer."
    )


class WebhookSecretRotated(WebhookOut):
    secret: str = Field(
        description="The new `whsec_…`, shown only in this answer. Deliveries are signed with"
        " both it and the previous secret until `previous_secret_expires_at`."
    )


class AttemptOut(BaseModel):
    number: int
    at: datetime
    status_code: int | None = Field(description="The receiver's answer; none on a timeout.")
    error: str | None = Field(
        description="`http_timeout`, `http_unreachable`, `private_address` or `internal_error`"
        " (notify failed to make the attempt), else none."
    )
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
    first_attempt_at: datetime | None = Field(
        default=None,
        description="Its first attempt (since its last replay): its retry window opens then.",
    )
    retry_until: datetime | None = Field(
        default=None,
        description="If pending and tried: when it is given up at the latest.",
    )
    delivered_at: datetime | None
    failed_at: datetime | None
    replays: int
    attempt_log: list[AttemptOut] = Field(description="Every attempt, oldest first.")


async def _out(
    conn: "Connection", runtime: Runtime, subscriptions: list[Subscription]
) -> list[WebhookOut]:
    """The subscriptions as answered, each with its backlog (read now)."""
    found = await webhook_store.backlogs(conn, [s.id for s in subscriptions])
    window = _settings(runtime).webhook_retry_window
    return [WebhookOut.of(s, found.get(s.id), window) for s in subscriptions]


async def _subscription(runtime: Runtime, caller: Caller, webhook_id: UUID) -> Subscription:
    async with runtime.db().acquire() as conn:
        found = await webhook_store.get_subscription(conn, webhook_id)
    if found is None:
        raise NotFound("webhook", webhook_id)
    caller.require_site(found.site_id)
    return found


def _settings(runtime: Runtime) -> NotifySettings:
    settings = runtime.settings
    assert isinstance(settings, NotifySettings)
    return settings


async def _require_public(runtime: Runtime, url: str) -> None:
    """The SSRF guard of a subscription's URL, on creation and on every change of it."""
    if _settings(runtime).webhooks_reach_private_addresses:
        return
    try:
        await check_public(url)
    except RefusedAddress as refused:
        raise Unprocessable(
            "Webhooks are delivered to public receivers only.",
            errors=[{"field": "url", "message": f"{refused}"}],
        ) from None


async def _subscription_for_update(
    conn: "Connection", caller: Caller, webhook_id: UUID
) -> Subscription:
    found = await webhook_store.get_subscription(conn, webhook_id, for_update=True)
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
    await _require_public(runtime, str(body.url))
    async with unit_of_work(runtime.db(), source=SOURCE, clock=runtime.clock) as uow:
        secret = new_secret()
        created = await webhook_store.add_subscription(
            uow.conn,
            site_id=body.site_id,
            url=str(body.url),
            event_types=body.event_types,
            secret=secret,
            created_by=caller.actor.id,
            now=runtime.clock.now(),
        )
        _replayed_with_secret(uow, created.id)
    return WebhookCreated(**WebhookOut.of(created).model_dump(), secret=secret)


def _replayed_with_secret(uow: UnitOfWork, webhook_id: UUID) -> None:
    uow.name_resource(webhook_id, f"{REPLAYED}/webhooks/{webhook_id}")


@router.get(
    f"{REPLAYED}/webhooks/{{webhook_id}}",
    response_model=WebhookCreated,
    include_in_schema=False,
    dependencies=[ReplayOnly],
)
async def replay_webhook_with_secret(
    request: Request, caller: Person, webhook_id: UUID
) -> WebhookCreated:
    """What a replayed creation or rotation answers: the subscription with its secret now."""
    runtime = runtime_of(request)
    async with runtime.db().acquire() as conn:
        found = await webhook_store.get_subscription(conn, webhook_id)
        secret = await webhook_store.secret_of(conn, webhook_id)
        if found is None or secret is None:
            raise NotFound("webhook", webhook_id)
        caller.require_site(found.site_id)
        [out] = await _out(conn, runtime, [found])
    return WebhookCreated(**out.model_dump(), secret=secret)


@router.get("/webhooks", response_model=list[WebhookOut], responses=PAGED)
async def list_webhooks(
    request: Request, caller: Caller, page: Page, site_id: UUID | None = None
) -> list[WebhookOut]:
    """The subscriptions of the key's sites (or of `site_id`), oldest first, without secrets."""
    after = page.after(datetime, UUID)
    runtime = runtime_of(request)
    async with runtime.db().acquire() as conn:
        found = await webhook_store.list_subscriptions(
            conn,
            site_id=site_id,
            visible_sites=list(caller.site_ids) if caller.site_ids is not None else None,
            limit=page.fetch,
            after=(after[0], after[1]) if after else None,
        )
        served = page.serve(found, key=lambda s: (s.created_at, s.id))
        return await _out(conn, runtime, served)


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut, responses=problem_responses(404))
async def get_webhook(request: Request, caller: Caller, webhook_id: UUID) -> WebhookOut:
    """The subscription and what waits for it: `pending_deliveries`, and `retrying_since`
    while the oldest of them is failing and holds the others back."""
    runtime = runtime_of(request)
    found = await _subscription(runtime, caller, webhook_id)
    async with runtime.db().acquire() as conn:
        [out] = await _out(conn, runtime, [found])
    return out


@router.patch(
    "/webhooks/{webhook_id}",
    response_model=WebhookOut,
    responses=problem_responses(404, 422),
)
async def patch_webhook(
    request: Request, caller: Person, webhook_id: UUID, body: WebhookChange
) -> WebhookOut:
    """Change the URL (checked as on creation), the event types, or re-enable a disabled
    subscription (`status: active`, which clears `disabled_reason`). Deliveries already
    queued keep their place and go to the new URL. An extension beyond the contract."""
    runtime = runtime_of(request)
    if body.url is not None:
        await _require_public(runtime, str(body.url))
    async with runtime.db().acquire() as conn, audited_transaction(conn):
        await _subscription_for_update(conn, caller, webhook_id)
        changed = await webhook_store.change_subscription(
            conn,
            webhook_id,
            url=str(body.url) if body.url is not None else None,
            event_types=body.event_types,
            reactivate=body.status == "active",
        )
        [out] = await _out(conn, runtime, [changed])
    return out


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=204,
    response_class=Response,
    responses=problem_responses(404),
)
async def delete_webhook(request: Request, caller: Person, webhook_id: UUID) -> Response:
    """Stop the subscription: nothing more is queued or sent for it, and its pending deliveries
    are given up. It is then unknown (404) here; its delivery history is kept on record. An
    extension beyond the contract."""
    runtime = runtime_of(request)
    async with runtime.db().acquire() as conn, audited_transaction(conn):
        await _subscription_for_update(conn, caller, webhook_id)
        await webhook_store.delete_subscription(conn, webhook_id, runtime.clock.now())
    return Response(status_code=204)


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    response_model=WebhookSecretRotated,
    responses=problem_responses(404),
)
async def rotate_webhook_secret(
    request: Request, caller: Person, webhook_id: UUID
) -> WebhookSecretRotated:
    """A new signing secret. For `WEBHOOK_ROTATION_OVERLAP` (24 h) every delivery carries two
    signatures in `webhook-signature` (space-separated, as Standard Webhooks allows): one with
    the new secret and one with the previous, so the receiver verifies with either while it
    switches. Rotating again within the overlap drops the oldest secret. An extension beyond
    the contract."""
    runtime = runtime_of(request)
    secret = new_secret()
    async with unit_of_work(runtime.db(), source=SOURCE, clock=runtime.clock) as uow:
        await _subscription_for_update(uow.conn, caller, webhook_id)
        rotated = await webhook_store.rotate_secret(
            uow.conn,
            webhook_id,
            secret,
            runtime.clock.now() + _settings(runtime).webhook_rotation_overlap,
        )
        _replayed_with_secret(uow, webhook_id)
        [out] = await _out(uow.conn, runtime, [rotated])
    return WebhookSecretRotated(**out.model_dump(), secret=secret)


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
    window = _settings(runtime).webhook_retry_window
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
            first_attempt_at=r["first_attempt_at"],
            retry_until=(
                r["first_attempt_at"] + window
                if r["status"] == "pending" and r["first_attempt_at"]
                else None
            ),
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
        raise Conflict("The subscription is disabled: re-enable it first (PATCH status active).")
    async with unit_of_work(runtime.db(), source=SOURCE, clock=runtime.clock) as uow:
        row = await webhook_store.delivery_for_update(uow.conn, webhook_id, delivery_id)
        if row is None:
            raise NotFound("delivery", delivery_id)
        if row["status"] == DeliveryStatus.PENDING:
            raise Conflict("The delivery is still pending: it is tried again on its own.")
        await webhook_store.requeue(uow.conn, delivery_id, runtime.clock.now())
        uow.name_resource(delivery_id, f"{REPLAYED}/webhooks/{webhook_id}/deliveries/{delivery_id}")
    return ReplayAccepted(delivery_id=delivery_id, status=DeliveryStatus.PENDING)


@router.get(
    f"{REPLAYED}/webhooks/{{webhook_id}}/deliveries/{{delivery_id}}",
    response_model=ReplayAccepted,
    include_in_schema=False,
    dependencies=[ReplayOnly],
)
async def replayed_delivery(
    request: Request, caller: Person, webhook_id: UUID, delivery_id: UUID
) -> ReplayAccepted:
    """What a replayed delivery replay answers: the delivery's status now."""
    await _subscription(runtime_of(request), caller, webhook_id)
    async with runtime_of(request).db().acquire() as conn:
        status = await webhook_store.delivery_status(conn, webhook_id, delivery_id)
    if status is None:
        raise NotFound("delivery", delivery_id)
    return ReplayAccepted(delivery_id=delivery_id, status=DeliveryStatus(status))
