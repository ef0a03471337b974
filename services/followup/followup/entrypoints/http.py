"""followup's HTTP API (contract: followup). Thin: parse, check access, run a command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from fastapi import APIRouter, Request

from counseling_shared.eventstore import ConcurrencyConflict
from counseling_shared.http.auth import Principal
from counseling_shared.http.dependencies import Caller, Person
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import PAGED, Page
from counseling_shared.http.problems import Conflict, NotFound, Unprocessable
from counseling_shared.service import runtime_of
from counseling_shared.unit_of_work import UnitOfWork, unit_of_work
from counseling_shared.waiting import poll_until
from followup.adapters.postgres_store import PostgresFollowupStore
from followup.application import commands
from followup.application.commands import AccessCheck, FollowUpNotFound
from followup.domain import client_care
from followup.domain.errors import FollowUpAlreadyClosed
from followup.domain.followup import Complete, Status
from followup.domain.policy import InvalidPolicy, policy_from_text
from followup.domain.preferences import FollowUpPreferences
from followup.entrypoints.schemas import (
    CompleteIn,
    FollowUpOut,
    PolicyIn,
    PolicyOut,
    PreferencesIn,
    PreferencesOut,
    progress_of,
)

router = APIRouter(tags=["followup"])
T = TypeVar("T")
Work = Callable[[UnitOfWork, PostgresFollowupStore], Awaitable[T]]


async def _run(request: Request, work: Work[T]) -> T:
    """One command in one transaction; a lost optimistic race is retried once."""
    runtime = runtime_of(request)
    for attempt in (1, 2):
        try:
            async with unit_of_work(runtime.db(), source=runtime.name, clock=runtime.clock) as uow:
                return await work(uow, PostgresFollowupStore(uow.conn))
        except ConcurrencyConflict as exc:
            if attempt == 2:
                raise Conflict("Another change to the same record won; try again.") from exc
    raise AssertionError("unreachable")


async def _read(request: Request, work: Work[T]) -> T:
    runtime = runtime_of(request)
    async with runtime.db().acquire() as conn:
        uow = UnitOfWork(conn, source=runtime.name, clock=runtime.clock)
        return await work(uow, PostgresFollowupStore(conn))


async def _require_known(
    request: Request, field: str, what: str, ident: UUID, known: Work[bool]
) -> None:
    """followup learns sites and clients from booking's events: one named a moment after booking
    registered it is waited for (`KNOWN_ID_WAIT_SECONDS`), then refused with a 422."""
    runtime = runtime_of(request)

    async def check() -> bool:
        return await _read(request, known)

    if not await poll_until(check, runtime.settings.known_id_wait_seconds):
        message = f"No {what} with id {ident} is known (registered in booking)."
        raise Unprocessable(message, [{"field": field, "message": message}])


def _client_access(caller: Principal, client_id: UUID) -> AccessCheck:
    def check(site_id: UUID | None) -> None:
        if site_id is not None:
            caller.require_site(site_id)
        elif caller.site_ids is not None:
            # Only an admin of every site may speak for a client followup has not met yet.
            raise NotFound("client", client_id)

    return check


def _followup_access(caller: Principal, followup_id: UUID) -> AccessCheck:
    def check(site_id: UUID | None) -> None:
        if site_id is None or not caller.can_access(site_id):
            raise NotFound("follow-up", followup_id)

    return check


@router.put("/sites/{site_id}/followup-policy", response_model=PolicyOut)
async def put_policy(site_id: UUID, body: PolicyIn, caller: Person, request: Request) -> PolicyOut:
    """Set the site's follow-up policy (ISO 8601 durations; omitted fields take defaults).
    A site booking has not registered is a 422."""
    caller.require_site(site_id)

    async def site_known(uow: UnitOfWork, store: PostgresFollowupStore) -> bool:
        return await store.site_timezone(site_id) is not None

    await _require_known(request, "site_id", "site", site_id, site_known)
    try:
        policy = policy_from_text(body.model_dump(mode="json"))
    except InvalidPolicy as exc:
        raise Unprocessable(str(exc), [{"field": exc.field, "message": exc.message}]) from None

    async def work(uow: UnitOfWork, store: PostgresFollowupStore) -> PolicyOut:
        saved = await commands.set_policy(uow, store, site_id, policy)
        return PolicyOut.of(site_id, saved, is_default=False)

    return await _run(request, work)


@router.get("/sites/{site_id}/followup-policy", response_model=PolicyOut)
async def get_policy(site_id: UUID, caller: Caller, request: Request) -> PolicyOut:
    """The site's policy, or the contract's defaults when none was set."""
    caller.require_site(site_id)

    async def work(uow: UnitOfWork, store: PostgresFollowupStore) -> PolicyOut:
        policy, version = await store.policy(site_id)
        return PolicyOut.of(site_id, policy, is_default=version == 0)

    return await _read(request, work)


@router.get("/followups", response_model=list[FollowUpOut], responses=PAGED)
async def list_followups(
    caller: Caller,
    request: Request,
    page: Page,
    client_id: UUID | None = None,
    status: Status | None = None,
) -> list[FollowUpOut]:
    """Follow-ups of the caller's sites, by due time; filter by client and status. A page at
    a time (`Link` and `Next-Cursor` headers when more follow)."""
    site_ids = sorted(caller.site_ids) if caller.site_ids is not None else None
    after = page.after(datetime, UUID)

    async def work(uow: UnitOfWork, store: PostgresFollowupStore) -> list[FollowUpOut]:
        found = await store.list_followups(
            client_id=client_id,
            status=status,
            site_ids=site_ids,
            limit=page.fetch,
            after=(after[0], after[1]) if after else None,
        )
        return [FollowUpOut.of(f) for f in page.serve(found, key=lambda f: (f.due_at, f.id))]

    return await _read(request, work)


@router.get(
    "/followups/{followup_id}", response_model=FollowUpOut, responses=problem_responses(404)
)
async def get_followup(followup_id: UUID, caller: Caller, request: Request) -> FollowUpOut:
    async def work(uow: UnitOfWork, store: PostgresFollowupStore) -> FollowUpOut:
        found = await store.followup(followup_id)
        _followup_access(caller, followup_id)(found.site_id if found else None)
        assert found is not None
        return FollowUpOut.of(found)

    return await _read(request, work)


@router.post(
    "/followups/{followup_id}/complete",
    response_model=FollowUpOut,
    responses=problem_responses(404, s409="Already completed or cancelled."),
)
async def complete_followup(
    followup_id: UUID, body: CompleteIn, caller: Caller, request: Request
) -> FollowUpOut:
    """Record the outcome of a scheduled or due follow-up; 409 once completed or cancelled."""
    command = Complete(body.outcome, progress_of(body), body.satisfaction, body.risk_level)

    async def work(uow: UnitOfWork, store: PostgresFollowupStore) -> FollowUpOut:
        done = await commands.complete_followup(
            uow, store, followup_id, command, _followup_access(caller, followup_id)
        )
        return FollowUpOut.of(done)

    try:
        return await _run(request, work)
    except FollowUpNotFound:
        raise NotFound("follow-up", followup_id) from None
    except FollowUpAlreadyClosed as exc:
        raise Conflict(
            f"Follow-up {followup_id} is already {exc.status}.",
            followup_id=str(followup_id),
            followup_status=exc.status,
        ) from None


@router.put("/clients/{client_id}/followup-preferences", response_model=PreferencesOut)
async def put_preferences(
    client_id: UUID, body: PreferencesIn, caller: Caller, request: Request
) -> PreferencesOut:
    """Set how (channel) and how often (intensity) the client is followed up. A client booking
    has not registered is a 422."""

    async def client_known(uow: UnitOfWork, store: PostgresFollowupStore) -> bool:
        return await store.client(client_id) is not None

    await _require_known(request, "client_id", "client", client_id, client_known)
    preferences = FollowUpPreferences(body.channel, body.intensity)

    async def work(uow: UnitOfWork, store: PostgresFollowupStore) -> PreferencesOut:
        client = await commands.set_preferences(
            uow, store, client_id, preferences, _client_access(caller, client_id)
        )
        return PreferencesOut.of(client)

    return await _run(request, work)


@router.get(
    "/clients/{client_id}/followup-preferences",
    response_model=PreferencesOut,
    responses=problem_responses(404),
)
async def get_preferences(client_id: UUID, caller: Caller, request: Request) -> PreferencesOut:
    """The client's preferences (standard intensity, no channel, until set)."""

    async def work(uow: UnitOfWork, store: PostgresFollowupStore) -> PreferencesOut:
        client = await store.client(client_id) or client_care.new_client(client_id)
        _client_access(caller, client_id)(client.site_id)
        return PreferencesOut.of(client)

    return await _read(request, work)
