"""HTTP routes of crisis: thin — parse, authorise, hand to the application, shape the answer."""

from uuid import UUID, uuid4

from fastapi import APIRouter, Query, Request

from counseling_shared.codes import AlertStatus
from counseling_shared.eventstore import ConcurrencyConflict
from counseling_shared.http.dependencies import Caller
from counseling_shared.http.problems import Conflict, NotFound, Unprocessable
from counseling_shared.service import Runtime, runtime_of
from counseling_shared.unit_of_work import UnitOfWork, unit_of_work
from crisis.adapters import alert_views, policies
from crisis.adapters.codec import policy_levels_json
from crisis.adapters.flags import RiskFlag
from crisis.adapters.policies import SitePolicy
from crisis.application import alerts
from crisis.application import policies as policy_commands
from crisis.application.publishing import Paging
from crisis.domain.alert import AlertResolved
from crisis.domain.policy import InvalidPolicy, LevelDraft
from crisis.entrypoints.schemas import (
    AcknowledgeBody,
    AlertOut,
    AlertSummaryOut,
    EscalationPolicyBody,
    EscalationPolicyOut,
    ResolveBody,
    RiskFlagAccepted,
    RiskFlagBody,
)
from crisis.settings import CrisisSettings

router = APIRouter()


def _settings(runtime: Runtime) -> CrisisSettings:
    settings = runtime.settings
    assert isinstance(settings, CrisisSettings)
    return settings


def _paging(runtime: Runtime) -> Paging:
    return Paging(_settings(runtime).alert_base_url)


def _policy_out(stored: SitePolicy) -> EscalationPolicyOut:
    return EscalationPolicyOut.model_validate(
        {
            "site_id": stored.site_id,
            "levels": policy_levels_json(stored.policy),
            "repeat": stored.policy.repeat,
            "fallback_staff_ids": list(stored.policy.fallback_staff_ids),
            "version": stored.version,
            "updated_at": stored.updated_at,
        }
    )


def _invalid(exc: InvalidPolicy) -> Unprocessable:
    return Unprocessable(str(exc), [{"field": e.field, "message": e.message} for e in exc.errors])


@router.put("/sites/{site_id}/escalation-policy", tags=["policies"])
async def put_escalation_policy(
    site_id: UUID, body: EscalationPolicyBody, request: Request, caller: Caller
) -> EscalationPolicyOut:
    """Replace the site's escalation policy. Alerts already open keep the copy they froze; an
    open alert that opened while the site had no policy is paged (level 1) at once."""
    caller.require_site(site_id)
    runtime = runtime_of(request)
    settings = _settings(runtime)
    if settings.require_known_staff:
        named = [staff for level in body.levels for staff in level.staff_ids]
        named += body.fallback_staff_ids
        await policy_commands.wait_for_staff(
            runtime.db(), site_id, named, settings.staff_wait_seconds
        )
    try:
        async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
            stored = await policy_commands.set_policy(
                uow,
                site_id,
                [
                    LevelDraft(level.staff_ids, level.ack_timeout, level.schedule_ids)
                    for level in body.levels
                ],
                body.repeat,
                body.fallback_staff_ids,
                require_known_staff=settings.require_known_staff,
            )
            # Alerts that opened while the site had no policy are paged now, in this
            # transaction: the policy is never stored without them being paged.
            await alerts.page_orphan_alerts(uow, site_id, _paging(runtime))
    except InvalidPolicy as exc:
        raise _invalid(exc) from None
    except ConcurrencyConflict:
        raise Conflict(
            "The policy was changed at the same moment; read it and try again.",
            site_id=str(site_id),
        ) from None
    return _policy_out(stored)


@router.get("/sites/{site_id}/escalation-policy", tags=["policies"])
async def get_escalation_policy(
    site_id: UUID, request: Request, caller: Caller
) -> EscalationPolicyOut:
    caller.require_site(site_id)
    async with runtime_of(request).db().acquire() as conn:
        stored = await policies.policy_of(conn, site_id)
    if stored is None:
        raise NotFound("escalation policy", site_id)
    return _policy_out(stored)


@router.post("/risk-flags", status_code=202, tags=["alerts"])
async def post_risk_flag(body: RiskFlagBody, request: Request, caller: Caller) -> RiskFlagAccepted:
    """Record a risk flag. Moderate or above opens (or joins) the client's alert and pages
    level 1 of the site's policy at once."""
    caller.require_site(body.site_id)
    runtime = runtime_of(request)
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        flag = RiskFlag(uuid4(), body.client_id, body.site_id, body.level, body.source, uow.now())
        outcome = await alerts.submit_flag(uow, flag, _paging(runtime))
    return RiskFlagAccepted(alert_id=outcome.alert_id, flag_id=outcome.flag_id)


@router.get("/alerts", tags=["alerts"])
async def list_alerts(
    request: Request,
    caller: Caller,
    site_id: UUID | None = None,
    status: AlertStatus | None = None,
    limit: int = Query(default=100, ge=1, le=500),
) -> list[AlertSummaryOut]:
    """Newest first, limited to the sites the API key may see."""
    if site_id is not None:
        caller.require_site(site_id)
    async with runtime_of(request).db().acquire() as conn:
        rows = await alert_views.list_alerts(
            conn,
            site_id=site_id,
            allowed_sites=caller.site_ids,
            status=status.value if status else None,
            limit=limit,
        )
    return [AlertSummaryOut.model_validate(r) for r in rows]


@router.get("/alerts/{alert_id}", tags=["alerts"])
async def get_alert(alert_id: UUID, request: Request, caller: Caller) -> AlertOut:
    async with runtime_of(request).db().acquire() as conn:
        view = await alert_views.alert_view(conn, alert_id)
    if view is None:
        raise NotFound("alert", alert_id)
    caller.require_site(view["site_id"])
    return AlertOut.model_validate(view)


@router.post("/alerts/{alert_id}/ack", tags=["alerts"])
async def acknowledge_alert(
    alert_id: UUID, body: AcknowledgeBody, request: Request, caller: Caller
) -> AlertOut:
    """Stop the escalation. Acknowledging twice changes nothing; a resolved alert is a 409."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        await _authorise(uow, alert_id, caller)
        try:
            await alerts.acknowledge(uow, alert_id, body.staff_id, _paging(runtime))
        except AlertResolved as exc:
            raise Conflict(str(exc), alert_id=str(alert_id)) from None
        return await _view(uow, alert_id)


@router.post("/alerts/{alert_id}/resolve", tags=["alerts"])
async def resolve_alert(
    alert_id: UUID, body: ResolveBody, request: Request, caller: Caller
) -> AlertOut:
    runtime = runtime_of(request)
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        await _authorise(uow, alert_id, caller)
        try:
            await alerts.resolve(uow, alert_id, body.staff_id, body.outcome, _paging(runtime))
        except AlertResolved as exc:
            raise Conflict(str(exc), alert_id=str(alert_id)) from None
        return await _view(uow, alert_id)


async def _authorise(uow: UnitOfWork, alert_id: UUID, caller: Caller) -> None:
    site_id = await alert_views.alert_site(uow.conn, alert_id)
    if site_id is None:
        raise NotFound("alert", alert_id)
    caller.require_site(site_id)


async def _view(uow: UnitOfWork, alert_id: UUID) -> AlertOut:
    view = await alert_views.alert_view(uow.conn, alert_id)
    assert view is not None
    return AlertOut.model_validate(view)
