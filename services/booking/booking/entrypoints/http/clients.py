"""Clients and their episodes of care. Only authorised API callers see contact details."""

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter

from booking.adapters import projections, queries
from booking.application import handlers
from booking.application import waitlist as waitlist_app
from booking.application.ports import require_site
from booking.domain import client
from booking.domain.errors import UnknownAggregate
from booking.entrypoints.http.deps import Live, execute
from booking.entrypoints.http.errors import BookingRoute
from booking.entrypoints.http.schemas import (
    ClientIn,
    ClientOut,
    ClientPatch,
    EpisodeClosedOut,
    EpisodeCloseIn,
)
from booking.entrypoints.policies import offer_policy
from counseling_shared import idempotency
from counseling_shared.http.auth import Role
from counseling_shared.http.dependencies import Caller
from counseling_shared.http.idempotency import REPLAYED, ReplayOnly
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import PAGED, Page

router = APIRouter(route_class=BookingRoute, tags=["clients"])


@router.post("/clients", status_code=201)
async def register_client(body: ClientIn, caller: Caller, runtime: Live) -> ClientOut:
    """Register a client. Emits `ClientRegistered` without name or contact details."""
    command = client.RegisterClient(
        site_id=body.site_id,
        name=body.name,
        preferred_channel=body.preferred_channel,
        email=body.email,
        phone=body.phone,
        locale=body.locale,
        timezone=body.timezone,
    )
    registered = await execute(runtime, lambda uow: handlers.register_client(uow, command, caller))
    return ClientOut.of(registered)


@router.get("/clients", responses=PAGED)
async def list_clients(
    caller: Caller, runtime: Live, page: Page, site_id: UUID | None = None
) -> list[ClientOut]:
    """In order of registration, a page at a time (`Link`/`Next-Cursor` when more follow)."""
    window = queries.Window(page.fetch, page.after(datetime, UUID))
    async with runtime.db().acquire() as conn:
        found = await queries.list_clients(conn, site_id, caller.site_ids, window)
    return [ClientOut.of(c) for c in page.serve(found, key=lambda c: (c.registered_at, c.id))]


@router.get("/clients/{client_id}", responses=problem_responses(404))
async def get_client(client_id: UUID, caller: Caller, runtime: Live) -> ClientOut:
    async with runtime.db().acquire() as conn:
        found = await projections.load_client(conn, client_id)
    if found is None:
        raise UnknownAggregate("client", client_id)
    require_site(caller, found.site_id)
    return ClientOut.of(found)


@router.patch("/clients/{client_id}", responses=problem_responses(404))
async def correct_client_contact(
    client_id: UUID, body: ClientPatch, caller: Caller, runtime: Live
) -> ClientOut:
    """Correct contact details (only the fields sent). Emits `ClientContactChanged`, which
    carries the client's locale, time zone and preferred channel, never a contact detail.
    An `integration` key corrects the name, locale, time zone and preferred channel; an
    `email` or `phone` other than the current one is a 403 from it (the client's reminders
    and signed check-in links go there): a person changes those."""
    given = frozenset(body.model_fields_set & client.CORRECTABLE)
    command = client.CorrectContact(given=given, **body.model_dump(include=set(given)))
    # The addresses decide who answers the client's check-ins: people change them.
    people = caller.role is not Role.INTEGRATION
    corrected = await execute(
        runtime,
        lambda uow: handlers.correct_client_contact(
            uow, client_id, command, caller, may_change_addresses=people
        ),
    )
    return ClientOut.of(corrected)


@router.post(
    "/clients/{client_id}/episode/close",
    responses=problem_responses(404, s409="The episode is already closed."),
)
async def close_care_episode(
    client_id: UUID, body: EpisodeCloseIn, caller: Caller, runtime: Live
) -> EpisodeClosedOut:
    """Close the client's episode of care. Emits `CareEpisodeClosed` (`referred`, never the
    referral itself). A closed episode cannot be closed again (409); booking the client
    again opens the next episode. Extension: the client's waiting waitlist entries close
    (`closed`, reason `episode_closed`), an open offer going to the next client at once."""
    command = client.CloseCareEpisode(
        reason=body.reason,
        effective_on=body.effective_on,
        referral=client.Referral(body.referral.to, body.referral.contact)
        if body.referral
        else None,
    )
    # A replay answers the episode, not the client.
    idempotency.name_resource(str(client_id), f"{REPLAYED}/clients/{client_id}/episode")
    policy = offer_policy(runtime)
    closed = await execute(
        runtime,
        lambda uow: waitlist_app.close_care_episode(uow, client_id, command, caller, policy),
    )
    return EpisodeClosedOut.of(closed)


@router.get(
    f"{REPLAYED}/clients/{{client_id}}/episode",
    include_in_schema=False,
    dependencies=[ReplayOnly],
)
async def replayed_episode_close(
    client_id: UUID, caller: Caller, runtime: Live
) -> EpisodeClosedOut:
    """What a replayed episode close answers: the client's episode now."""
    async with runtime.db().acquire() as conn:
        found = await projections.load_client(conn, client_id)
    if found is None:
        raise UnknownAggregate("client", client_id)
    require_site(caller, found.site_id)
    return EpisodeClosedOut.of(found)
