"""The waitlist (contract v2: `POST /waitlist`), leaving it (extension), and the signed link
of its offers: accept, decline and leave (extensions beside the accept)."""

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from booking.adapters import waitlist_store
from booking.application import waitlist as waitlist_app
from booking.domain.errors import UnknownAggregate
from booking.domain.scheduling import waitlist
from booking.domain.scheduling.waitlist import (
    CloseReason,
    Entry,
    EntryStatus,
    Offer,
    OfferStatus,
    WithdrawReason,
)
from booking.entrypoints.http.deps import Live, execute
from booking.entrypoints.http.errors import BookingRoute
from booking.entrypoints.http.schemas import AppointmentOut
from booking.entrypoints.offer_link import verify_accept_link
from booking.entrypoints.policies import offer_policy
from booking.entrypoints.web import offer_page
from counseling_shared.codes import Modality
from counseling_shared.http.bodies import Instant, RequestBody
from counseling_shared.http.dependencies import Caller
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import PAGED, Page
from counseling_shared.http.problems import Problem
from counseling_shared.links import LinkExpired, LinkTampered

router = APIRouter(route_class=BookingRoute, tags=["waitlist"])


class WaitlistIn(RequestBody):
    client_id: UUID
    site_id: UUID
    counselor_id: UUID | None = Field(None, description="Only this counselor's slots.")
    modality: Modality | None = Field(None, description="Only slots of this modality.")
    earliest: Instant | None = Field(None, description="Slots starting at or after this.")
    latest: Instant | None = Field(None, description="Slots ending at or before this.")
    weekdays: list[int] | None = Field(
        None, max_length=7, description="ISO weekdays (1 Monday … 7 Sunday), site's zone."
    )


class OfferOut(BaseModel):
    id: UUID
    start: datetime
    end: datetime
    counselor_id: UUID
    status: OfferStatus
    expires_at: datetime
    appointment_id: UUID | None
    group_session_id: UUID | None = Field(
        None, description="Extension: a seat in this group session is offered."
    )

    @classmethod
    def of(cls, offer: Offer) -> "OfferOut":
        return cls(
            id=offer.id,
            start=offer.start,
            end=offer.end,
            counselor_id=offer.counselor_id,
            status=offer.status,
            expires_at=offer.expires_at,
            appointment_id=offer.appointment_id,
            group_session_id=offer.group_session_id,
        )


class WaitlistEntryOut(BaseModel):
    id: UUID
    site_id: UUID
    client_id: UUID
    counselor_id: UUID | None
    modality: Modality | None
    earliest: datetime | None
    latest: datetime | None
    weekdays: list[int] | None
    joined_at: datetime
    status: EntryStatus
    offers: list[OfferOut] = Field(default_factory=list, description="Offers made, in order.")
    group_session_id: UUID | None = Field(
        None,
        description="Extension: waiting for a seat in this group session only "
        "(`POST /group-sessions/{id}/waitlist`).",
    )
    reason: WithdrawReason | CloseReason | None = Field(
        None,
        description="Extension: why the entry left the waitlist: a withdrawal's code "
        "(status `withdrawn`), or `episode_closed`, `group_cancelled`, `client_erased`, "
        "`seated` (the client took a seat in the group directly) or `left_series` (the "
        "client left the group's series) (status `closed`).",
    )
    left_at: datetime | None = Field(
        None, description="Extension: when the entry left the waitlist."
    )

    @classmethod
    def of(cls, entry: Entry, offers: list[Offer] | None = None) -> "WaitlistEntryOut":
        return cls(
            id=entry.id,
            site_id=entry.site_id,
            client_id=entry.client_id,
            counselor_id=entry.counselor_id,
            modality=entry.modality,
            earliest=entry.earliest,
            latest=entry.latest,
            weekdays=list(entry.weekdays) if entry.weekdays else None,
            joined_at=entry.joined_at,
            status=entry.status,
            offers=[OfferOut.of(o) for o in offers or []],
            group_session_id=entry.group_session_id,
            reason=entry.reason,
            left_at=entry.left_at,
        )


class WithdrawIn(RequestBody):
    reason: WithdrawReason = Field(
        WithdrawReason.OTHER,
        description="Why the client leaves: `client_request`, `booked_elsewhere` or `other` "
        "(the default). A code only, never free text.",
    )


@router.post("/waitlist", status_code=201)
async def join_waitlist(body: WaitlistIn, caller: Caller, runtime: Live) -> WaitlistEntryOut:
    """Put a client on the site's waitlist. A freed slot that fits the entry is offered to
    the entries in order of joining, one at a time (`WaitlistOfferMade`, holding the slot for
    `WAITLIST_OFFER_TTL`)."""
    command = waitlist.JoinWaitlist(
        client_id=body.client_id,
        site_id=body.site_id,
        counselor_id=body.counselor_id,
        modality=body.modality,
        earliest=body.earliest,
        latest=body.latest,
        weekdays=tuple(body.weekdays) if body.weekdays else None,
    )
    entry = await execute(runtime, lambda uow: waitlist_app.join_waitlist(uow, command, caller))
    return WaitlistEntryOut.of(entry)


@router.get("/waitlist", responses=PAGED)
async def list_waitlist(
    caller: Caller, runtime: Live, page: Page, site_id: UUID | None = None
) -> list[WaitlistEntryOut]:
    """Entries in order of joining."""
    async with runtime.db().acquire() as conn:
        found = await waitlist_store.list_entries(
            conn, site_id, caller.site_ids, page.fetch, page.after(datetime, UUID)
        )
    return [WaitlistEntryOut.of(e) for e in page.serve(found, key=lambda e: (e.joined_at, e.id))]


@router.get("/waitlist/{entry_id}", responses=problem_responses(404))
async def get_waitlist_entry(entry_id: UUID, caller: Caller, runtime: Live) -> WaitlistEntryOut:
    async with runtime.db().acquire() as conn:
        entry = await waitlist_store.load_entry(conn, entry_id)
        if entry is None:
            raise UnknownAggregate("waitlist entry", entry_id)
        caller.require_site(entry.site_id)
        offers = await waitlist_store.offers_of_entry(conn, entry_id)
    return WaitlistEntryOut.of(entry, offers)


@router.post(
    "/waitlist/{entry_id}/withdraw",
    responses=problem_responses(404, s409="The entry is not waiting (booked or withdrawn)."),
)
async def withdraw_from_waitlist(
    entry_id: UUID, caller: Caller, runtime: Live, body: WithdrawIn | None = None
) -> WaitlistEntryOut:
    """Extension: take a client off the waitlist (status `withdrawn`, with the coded
    `reason`). An open offer of the entry is withdrawn at once and its slot or seat offered to
    the next client, as on expiry. Emits `WaitlistEntryWithdrawn`."""
    reason = (body or WithdrawIn()).reason
    policy = offer_policy(runtime)
    entry = await execute(
        runtime,
        lambda uow: waitlist_app.withdraw_entry(uow, entry_id, reason, caller, policy),
    )
    async with runtime.db().acquire() as conn:
        offers = await waitlist_store.offers_of_entry(conn, entry_id)
    return WaitlistEntryOut.of(entry, offers)


@router.post(
    "/waitlist/offers/{offer_id}/accept",
    status_code=201,
    response_model=AppointmentOut,
    responses=problem_responses(
        403,
        404,
        410,
        s409="Already accepted (`appointment_id` names the booking).",
    ),
    openapi_extra={"security": []},  # the signed token is the credential
)
async def accept_offer(
    offer_id: UUID,
    request: Request,
    runtime: Live,
    token: str = Query(
        "",
        max_length=1000,
        description="The signed token of the offer's link (a browser form may send it instead).",
    ),
) -> AppointmentOut | Response:
    """Accept a waitlist offer with its signed link: books the held slot (201,
    `AppointmentBooked`). 409 when accepted before, 410 when the offer or its link expired
    (the slot went to the next entry), 403 for an altered link. A browser's form post
    (`application/x-www-form-urlencoded`) gets the same answers as HTML pages."""
    if offer_page.is_form_post(request):
        return await offer_page.accept_from_form(request, runtime, offer_id, token)
    try:
        verify_accept_link(runtime, offer_id, token)
    except LinkExpired:
        raise _gone("This offer has expired; the slot went to the next client.") from None
    except LinkTampered:
        raise _bad_link() from None
    try:
        booked = await execute(runtime, lambda uow: waitlist_app.accept_offer(uow, offer_id))
    except waitlist.OfferExpired as exc:
        raise _gone(str(exc)) from None
    except waitlist.OfferAlreadyAccepted as exc:
        raise Problem(
            409,
            "conflict",
            "Conflict",
            str(exc),
            appointment_id=str(exc.appointment_id),
        ) from None
    return AppointmentOut.of(booked)


_TOKEN = Query(
    "",
    max_length=1000,
    description="The signed token of the offer's link (a browser form may send it instead).",
)


@router.post(
    "/waitlist/offers/{offer_id}/decline",
    response_model=OfferOut,
    responses=problem_responses(
        403, 404, 410, s409="Already accepted (`appointment_id` names the booking)."
    ),
    openapi_extra={"security": []},  # the signed token is the credential
)
async def decline_offer(
    offer_id: UUID, request: Request, runtime: Live, token: str = _TOKEN
) -> OfferOut | Response:
    """Extension: the client declines a waitlist offer with its signed link (status
    `declined`): the slot or seat goes to the next client at once instead of after
    `WAITLIST_OFFER_TTL`; the client stays on the waitlist. 409 when accepted, 410 when
    expired or declined before, 403 for an altered link. A browser's form post gets HTML."""
    if offer_page.is_form_post(request):
        return await offer_page.decline_from_form(request, runtime, offer_id, token)
    _check_link(runtime, offer_id, token)
    policy = offer_policy(runtime)
    try:
        declined = await execute(
            runtime, lambda uow: waitlist_app.decline_offer(uow, offer_id, policy)
        )
    except waitlist.OfferExpired as exc:
        raise _gone(str(exc)) from None
    except waitlist.OfferAlreadyAccepted as exc:
        raise Problem(
            409, "conflict", "Conflict", str(exc), appointment_id=str(exc.appointment_id)
        ) from None
    return OfferOut.of(declined)


@router.post(
    "/waitlist/offers/{offer_id}/leave",
    response_model=WaitlistEntryOut,
    responses=problem_responses(
        403, 404, 410, s409="The entry is not waiting (booked, or withdrawn before)."
    ),
    openapi_extra={"security": []},  # the signed token is the credential
)
async def leave_from_offer(
    offer_id: UUID, request: Request, runtime: Live, token: str = _TOKEN
) -> WaitlistEntryOut | Response:
    """Extension: the client of an offer's signed link leaves the waitlist (the entry is
    `withdrawn`, reason `client_request`; an open offer is withdrawn and goes to the next
    client). Emits `WaitlistEntryWithdrawn`. 410 once the link expired, 403 for an altered
    link. A browser's form post (the offer page's "Take me off the waiting list") gets HTML."""
    if offer_page.is_form_post(request):
        return await offer_page.leave_from_form(request, runtime, offer_id, token)
    _check_link(runtime, offer_id, token)
    policy = offer_policy(runtime)
    entry = await execute(runtime, lambda uow: waitlist_app.withdraw_by_link(uow, offer_id, policy))
    return WaitlistEntryOut.of(entry)


def _check_link(runtime: Live, offer_id: UUID, token: str) -> None:
    try:
        verify_accept_link(runtime, offer_id, token)
    except LinkExpired:
        raise _gone("This offer has expired; the slot went to the next client.") from None
    except LinkTampered:
        raise _bad_link() from None


def _gone(detail: str) -> Problem:
    return Problem(410, "offer-expired", "Gone", detail)


def _bad_link() -> Problem:
    return Problem(403, "link-invalid", "Forbidden", "This link is not valid.")
