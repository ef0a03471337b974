"""HTTP routes of crisis: thin — parse, authorise, hand to the application, shape the answer."""

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Body, Request

from counseling_shared import audit
from counseling_shared.codes import AlertStatus
from counseling_shared.eventstore import ConcurrencyConflict
from counseling_shared.http.auth import Principal, Role
from counseling_shared.http.dependencies import Caller, Person
from counseling_shared.http.idempotency import REPLAYED, ReplayOnly
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import PAGED, Page
from counseling_shared.http.problems import Conflict, NotFound, Problem, Unprocessable
from counseling_shared.logs import get_logger
from counseling_shared.service import Runtime, runtime_of
from counseling_shared.unit_of_work import UnitOfWork, unit_of_work
from crisis.adapters import alert_views, clients, flags, policies
from crisis.adapters.booking_directory import DirectoryAnswer, client_site_answer
from crisis.adapters.codec import policy_levels_json
from crisis.adapters.flags import RiskFlag
from crisis.adapters.policies import SitePolicy, ack_expires_after_text
from crisis.application import alerts, people
from crisis.application import policies as policy_commands
from crisis.application.publishing import Paging
from crisis.domain.alert import (
    AlertResolved,
    AlreadyAcknowledged,
    AlreadyEscalated,
    NothingToEscalate,
    NotPaged,
)
from crisis.domain.escalation import Step
from crisis.domain.policy import InvalidPolicy, LevelDraft
from crisis.domain.policy_warnings import policy_warnings
from crisis.entrypoints.paging import paging_for
from crisis.entrypoints.schemas import (
    AcknowledgeBody,
    AlertOut,
    AlertSummaryOut,
    EscalateBody,
    EscalationPolicyBody,
    EscalationPolicyOut,
    ResolveBody,
    RiskFlagAccepted,
    RiskFlagBody,
    RiskFlagOut,
)
from crisis.metrics import UNVERIFIED_FLAGS
from crisis.settings import CrisisSettings

log = get_logger(__name__)
router = APIRouter()


def _settings(runtime: Runtime) -> CrisisSettings:
    settings = runtime.settings
    assert isinstance(settings, CrisisSettings)
    return settings


def _paging(runtime: Runtime) -> Paging:
    return paging_for(_settings(runtime))


def _policy_out(
    stored: SitePolicy,
    inactive: frozenset[UUID] = frozenset(),
    texts_stopped: frozenset[UUID] = frozenset(),
    backup_sites: Sequence[UUID] = (),
) -> EscalationPolicyOut:
    return EscalationPolicyOut.model_validate(
        {
            "site_id": stored.site_id,
            "levels": policy_levels_json(stored.policy),
            "repeat": stored.policy.repeat,
            "fallback_staff_ids": list(stored.policy.fallback_staff_ids),
            "backup_site_ids": list(backup_sites),
            "ack_expires_after": ack_expires_after_text(stored.policy),
            "version": stored.version,
            "updated_at": stored.updated_at,
            "inactive_staff_ids": sorted(inactive, key=str),
            "sms_stopped_staff_ids": sorted(texts_stopped, key=str),
            "warnings": policy_warnings(stored.policy, inactive, texts_stopped),
        }
    )


def _invalid(exc: InvalidPolicy) -> Unprocessable:
    return Unprocessable(str(exc), [{"field": e.field, "message": e.message} for e in exc.errors])


@router.put(
    "/sites/{site_id}/escalation-policy",
    tags=["policies"],
    responses=problem_responses(s409="Changed by another request meanwhile; try again."),
)
async def put_escalation_policy(
    site_id: UUID, body: EscalationPolicyBody, request: Request, caller: Person
) -> EscalationPolicyOut:
    """Replace the site's escalation policy. Alerts already open keep the copy they froze; an
    open alert that opened while the site had no policy is paged (level 1) at once."""
    caller.require_site(site_id)
    runtime = runtime_of(request)
    settings = _settings(runtime)
    backup_sites = _backup_sites(caller, site_id, body.backup_site_ids)
    if settings.require_known_staff:
        named = [staff for level in body.levels for staff in level.staff_ids]
        named += body.fallback_staff_ids
        await policy_commands.wait_for_staff(
            runtime.db(), site_id, named, settings.staff_wait_seconds, backup_sites
        )
    try:
        async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
            stored = await policy_commands.set_policy(
                uow,
                site_id,
                [
                    LevelDraft(
                        level.staff_ids,
                        level.ack_timeout,
                        level.schedule_ids,
                        level.round_robin,
                        level.call_after,
                    )
                    for level in body.levels
                ],
                body.repeat,
                body.fallback_staff_ids,
                require_known_staff=settings.require_known_staff,
                ack_expires_after=body.ack_expires_after,
                backup_sites=backup_sites,
            )
            # Alerts that opened while the site had no policy are paged now, in this
            # transaction: the policy is never stored without them being paged.
            await alerts.page_orphan_alerts(uow, site_id, _paging(runtime))
            shown = await _backup_sites_shown(uow.conn, caller, stored)
    except InvalidPolicy as exc:
        raise _invalid(exc) from None
    except ConcurrencyConflict:
        raise Conflict(
            "The policy was changed at the same moment; read it and try again.",
            site_id=str(site_id),
        ) from None
    return _policy_out(stored, backup_sites=shown)


def _backup_sites(caller: Principal, site_id: UUID, listed: Sequence[UUID]) -> frozenset[UUID]:
    """Cross-site backup is opted into by listing the sites, and only an admin key that
    administers each may list it: a policy never pages people of a site its author cannot
    administer (README, "Cross-site backup")."""
    errors = [
        {"field": f"backup_site_ids.{i}", "message": f"this API key does not administer {s}"}
        for i, s in enumerate(listed)
        if s != site_id and (caller.role is not Role.ADMIN or not caller.can_access(s))
    ]
    if errors:
        raise Unprocessable("Only an admin key of every backup site may list it.", errors)
    return frozenset(listed) - {site_id}


async def _backup_sites_shown(conn: Any, caller: Principal, stored: SitePolicy) -> list[UUID]:
    """The policy's backup sites, those the caller may see (never another site's id)."""
    named = await policy_commands.backup_sites_named(conn, stored.site_id, stored.policy)
    return [s for s in named if caller.can_access(s)]


@router.get(
    "/sites/{site_id}/escalation-policy", tags=["policies"], responses=problem_responses(404)
)
async def get_escalation_policy(
    site_id: UUID, request: Request, caller: Caller
) -> EscalationPolicyOut:
    caller.require_site(site_id)
    async with runtime_of(request).db().acquire() as conn:
        stored = await policies.policy_of(conn, site_id)
        if stored is None:
            raise NotFound("escalation policy", site_id)
        inactive = await policy_commands.policy_gaps(conn, stored.policy)
        stopped = await policy_commands.texts_stopped(conn, stored.policy)
        shown = await _backup_sites_shown(conn, caller, stored)
    return _policy_out(stored, inactive, stopped, shown)


@router.post("/risk-flags", status_code=202, tags=["alerts"])
async def post_risk_flag(body: RiskFlagBody, request: Request, caller: Caller) -> RiskFlagAccepted:
    """Record a risk flag. Moderate or above opens (or joins) the client's alert and pages
    level 1 of the site's policy at once. A client not registered at the site is a 422."""
    caller.require_site(body.site_id)
    audit.note_client(body.client_id)  # the answer names only the alert and the flag
    runtime = runtime_of(request)
    settings = _settings(runtime)
    if settings.require_known_client:
        await _check_client_of_site(runtime, settings, body.client_id, body.site_id)
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        flag = RiskFlag(uuid4(), body.client_id, body.site_id, body.level, body.source, uow.now())
        # A replay answers as this does, naming no client (not the flag's whole view).
        uow.name_resource(flag.flag_id, f"{REPLAYED}/risk-flags/{flag.flag_id}")
        outcome = await alerts.submit_flag(uow, flag, _paging(runtime))
    return RiskFlagAccepted(id=outcome.flag_id, alert_id=outcome.alert_id, flag_id=outcome.flag_id)


async def _check_client_of_site(
    runtime: Runtime, settings: CrisisSettings, client_id: UUID, site_id: UUID
) -> None:
    """A 422 unless the client is of `site_id`. For a client crisis has not heard of, booking
    (the authority on clients) is asked at once: crisis may be behind booking's registrations
    (an outage, a stream electing its leader). If booking cannot answer, booking's
    `ClientRegistered` is waited for briefly, and then the flag is accepted all the same:
    paging never depends on booking being up."""
    async with runtime.db().acquire() as conn:
        known_site = await clients.site_of(conn, client_id)
    if known_site is None:
        answer = await client_site_answer(
            runtime.nats(), client_id, site_id, settings.directory_timeout
        )
        if answer is DirectoryAnswer.AT_SITE:
            return
        if answer is DirectoryAnswer.UNAVAILABLE:
            if await people.client_is_of_site(
                runtime.db(), client_id, site_id, settings.client_wait_seconds
            ):
                return
            async with runtime.db().acquire() as conn:
                known_site = await clients.site_of(conn, client_id)
            if known_site is None:
                UNVERIFIED_FLAGS.inc()
                log.warning(
                    "flag_client_unverified", client_id=str(client_id), site_id=str(site_id)
                )
                return
    if known_site == site_id:
        return
    raise Unprocessable(
        f"Client {client_id} is not a client of site {site_id}.",
        [{"field": "client_id", "message": "not a client of this site"}],
    )


@router.get("/risk-flags/{flag_id}", tags=["alerts"], responses=problem_responses(404))
async def get_risk_flag(flag_id: UUID, request: Request, caller: Caller) -> RiskFlagOut:
    """A recorded flag and the alert it opened or joined."""
    async with runtime_of(request).db().acquire() as conn:
        view = await flags.flag_view(conn, flag_id)
    if view is None:
        raise NotFound("risk flag", flag_id)
    caller.require_site(view["site_id"])
    return RiskFlagOut.model_validate(view)


@router.get(
    f"{REPLAYED}/risk-flags/{{flag_id}}", include_in_schema=False, dependencies=[ReplayOnly]
)
async def replayed_risk_flag(flag_id: UUID, request: Request, caller: Caller) -> RiskFlagAccepted:
    """What a replayed flag answers: its alert now, as the first answer named it."""
    view = await get_risk_flag(flag_id, request, caller)
    return RiskFlagAccepted(id=view.flag_id, alert_id=view.alert_id, flag_id=view.flag_id)


@router.get("/alerts", tags=["alerts"], responses=PAGED)
async def list_alerts(
    request: Request,
    caller: Caller,
    page: Page,
    site_id: UUID | None = None,
    status: AlertStatus | None = None,
) -> list[AlertSummaryOut]:
    """Newest first, limited to the sites the API key may see; a page at a time (`Link` and
    `Next-Cursor` headers when more follow)."""
    if site_id is not None:
        caller.require_site(site_id)
    before = page.after(datetime, UUID)
    async with runtime_of(request).db().acquire() as conn:
        rows = await alert_views.list_alerts(
            conn,
            site_id=site_id,
            allowed_sites=caller.site_ids,
            status=status.value if status else None,
            limit=page.fetch,
            before=(before[0], before[1]) if before else None,
        )
    served = page.serve(rows, key=lambda r: (r["opened_at"], r["id"]))
    return [AlertSummaryOut.model_validate(r) for r in served]


@router.get("/alerts/{alert_id}", tags=["alerts"], responses=problem_responses(404))
async def get_alert(alert_id: UUID, request: Request, caller: Caller) -> AlertOut:
    async with runtime_of(request).db().acquire() as conn:
        view = await alert_views.alert_view(conn, alert_id)
    if view is None:
        raise NotFound("alert", alert_id)
    caller.require_site(view["site_id"])
    return AlertOut.model_validate(view)


@router.post(
    "/alerts/{alert_id}/ack",
    tags=["alerts"],
    responses=problem_responses(404, s409="The alert is already resolved."),
)
async def acknowledge_alert(
    alert_id: UUID,
    request: Request,
    caller: Person,
    # Optional: a staff key acts as its own member and has nothing to say (contract v2), so
    # a bare POST is an acknowledgement; only an admin names `staff_id`.
    body: Annotated[AcknowledgeBody | None, Body()] = None,
) -> AlertOut:
    """Stop the escalation. Acknowledging twice changes nothing; a resolved alert is a 409.
    The body may be left out (a staff key acknowledges as its own staff member)."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        actor = await _authorise(uow, alert_id, caller, body.staff_id if body else None)
        try:
            await alerts.acknowledge(uow, alert_id, actor, _paging(runtime))
        except AlertResolved as exc:
            raise Conflict(str(exc), alert_id=str(alert_id)) from None
        return await _view(uow, alert_id)


@router.post(
    "/alerts/{alert_id}/escalate",
    tags=["alerts"],
    responses=problem_responses(
        404,
        s409="The alert is acknowledged or resolved, has no further level to page, or has"
        " already moved past the `level` given.",
    ),
)
async def escalate_alert(
    alert_id: UUID,
    request: Request,
    caller: Person,
    body: Annotated[EscalateBody | None, Body()] = None,
) -> AlertOut:
    """Extension. "Escalate now": a staff member paged for the alert (at any level so far)
    cannot take it, so the current level's deadline is brought forward: the next level is
    paged at once, by the same rules as a missed deadline (empty levels skipped, the chain
    repeated, the fallback staff paged and `AlertExhausted`), and the pending deadline is
    cancelled. Who may act, and how, as for `POST /alerts/{id}/ack`; a staff member never
    paged for the alert is a 403."""
    runtime = runtime_of(request)
    named = body.staff_id if body else None
    seen = _seen_step(body)
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        actor = await _authorise(uow, alert_id, caller, named)
        try:
            await alerts.escalate_now(uow, alert_id, actor, _paging(runtime), seen)
        except NotPaged as exc:
            raise Problem(403, "forbidden", "Forbidden", str(exc)) from None
        except (AlertResolved, AlreadyAcknowledged, NothingToEscalate) as exc:
            raise Conflict(str(exc), alert_id=str(alert_id)) from None
        except AlreadyEscalated as exc:
            now_at = exc.step or Step(0, 0)
            raise Conflict(
                f"The alert already moved on to level {now_at.level} (pass {now_at.cycle}).",
                alert_id=str(alert_id),
                current_level=now_at.level,
                cycle=now_at.cycle,
            ) from None
        return await _view(uow, alert_id)


def _seen_step(body: EscalateBody | None) -> Step | None:
    """The step the caller escalates from (`level`, `cycle` 0 unless given); None: current."""
    if body is None or body.level is None:
        if body is not None and body.cycle is not None:
            raise Unprocessable(
                "`cycle` goes with `level`.",
                [{"field": "level", "message": "required with cycle"}],
            )
        return None
    return Step(body.cycle or 0, body.level)


@router.post(
    "/alerts/{alert_id}/resolve",
    tags=["alerts"],
    responses=problem_responses(404, s409="The alert is already resolved."),
)
async def resolve_alert(
    alert_id: UUID, body: ResolveBody, request: Request, caller: Person
) -> AlertOut:
    runtime = runtime_of(request)
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        actor = await _authorise(uow, alert_id, caller, body.staff_id)
        try:
            await alerts.resolve(uow, alert_id, actor, body.outcome, _paging(runtime))
        except AlertResolved as exc:
            raise Conflict(str(exc), alert_id=str(alert_id)) from None
        return await _view(uow, alert_id)


async def _authorise(
    uow: UnitOfWork, alert_id: UUID, caller: Principal, named: UUID | None
) -> UUID:
    """The staff member acting on the alert: a staff key's own, or the one an admin names.
    They must work at the alert's site, or be another site's staff paged for it."""
    site_id = await alert_views.alert_site(uow.conn, alert_id)
    if site_id is None:
        raise NotFound("alert", alert_id)
    caller.require_site(site_id)
    if caller.role is Role.STAFF:
        assert caller.staff_id is not None
        if named is not None and named != caller.staff_id:
            raise Problem(
                403,
                "forbidden",
                "Forbidden",
                "A staff key acts as its own staff member; only an admin key names staff_id.",
            )
        actor = caller.staff_id
    else:
        if named is None:
            raise Unprocessable(
                "An admin key names the staff member it acts for.",
                [{"field": "staff_id", "message": "required with an admin key"}],
            )
        actor = named
        audit.act_for(actor)
    if not await people.may_act_on(uow.conn, actor, site_id, alert_id):
        raise Problem(
            403,
            "forbidden",
            "Forbidden",
            f"Staff member {actor} does not work at this site (or has been deactivated).",
        )
    return actor


async def _view(uow: UnitOfWork, alert_id: UUID) -> AlertOut:
    view = await alert_views.alert_view(uow.conn, alert_id)
    assert view is not None
    return AlertOut.model_validate(view)
