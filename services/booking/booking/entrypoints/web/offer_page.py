"""The client's page of a waitlist offer, opened from the signed `accept_url` in the message.

Server-rendered HTML in the client's locale that works without JavaScript: `GET` shows the
site, the offered time in the client's zone (and that it is a seat in a group session, for a
group's waitlist), when the offer lapses, a "Book this time" button and a "No, thank you"
button; their form posts (`POST`, the JSON routes' own paths, see
`entrypoints/http/waitlist.py`) book or decline it. Booked is a 201 page (the JSON answer's
status), accepted before a 409 page, expired (or declined) a 410 page, an altered link a 403
page; `GET` shows the 409/410/403 pages too. Declined is a 200 page offering "Take me off the
waiting list" (a form post to `/leave`). No client name, nothing clinical: the site's name and
the time only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from booking.adapters import projections, waitlist_store
from booking.application import waitlist as waitlist_app
from booking.domain.errors import NotAllowedNow, UnknownAggregate
from booking.domain.scheduling import waitlist
from booking.domain.scheduling.closures import SiteClosed
from booking.domain.scheduling.waitlist import Offer
from booking.entrypoints.http.deps import execute
from booking.entrypoints.offer_link import verify_accept_link
from booking.entrypoints.policies import offer_policy
from booking.entrypoints.web.texts import TEXTS, locale_of, when_label
from counseling_shared import audit
from counseling_shared.http.languages import browser_language
from counseling_shared.http.private_pages import PRIVATE_PAGE_HEADERS
from counseling_shared.links import LinkExpired, LinkTampered
from counseling_shared.service import Runtime, runtime_of

# HTML for people. Declared in the OpenAPI document all the same: the JSON accept shares its
# path, so `Allow` names GET, and the document must say what a GET answers.
router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
_PATH = "/waitlist/offers/{offer_id}/accept"
_DECLINE = "/waitlist/offers/{offer_id}/decline"
_LEAVE = "/waitlist/offers/{offer_id}/leave"
_MAX_TOKEN = 1000
# The token is in the URL: kept out of caches and Referer headers; no script, no framing.
_PRIVATE = PRIVATE_PAGE_HEADERS


@dataclass(frozen=True)
class _Shown:
    """What the page shows of an offer, in the client's words and zone."""

    offer: Offer
    locale: str
    site_name: str
    zone: ZoneInfo

    def when(self, at: datetime) -> str:
        return when_label(at, self.zone, self.locale)


@dataclass(frozen=True)
class _Button:
    """One more form on a message page (the declined page's "Take me off the waiting list")."""

    action: str
    token: str
    label: str


class _Refused(Exception):
    """Answer with a message page (403, 404, 409, 410) instead."""

    def __init__(
        self, status: int, key: str, shown: _Shown | None = None, button: _Button | None = None
    ) -> None:
        super().__init__(key)
        self.status, self.key, self.shown, self.button = status, key, shown, button


def is_form_post(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind == "application/x-www-form-urlencoded"


def _page(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


@router.get(
    _PATH,
    response_class=HTMLResponse,
    tags=["waitlist"],
    summary="The offer's page for the client (HTML)",
    responses={
        200: {"description": 'The offer, with a "Book this time" button posting the form.'},
        403: _page("An altered link: a page saying so."),
        404: _page("No such offer: a page saying so."),
        409: _page("Accepted before: a page naming the booked time."),
        410: _page("The offer or its link expired: a page saying so."),
    },
    openapi_extra={"security": []},  # the signed token is the credential
)
async def show_offer(offer_id: UUID, request: Request, token: str = "") -> HTMLResponse:
    """The offer as the client sees it, with the button that books it."""
    runtime = runtime_of(request)
    try:
        shown = await _open(runtime, offer_id, token)
        try:
            waitlist.check_acceptable(shown.offer, runtime.clock.now())
        except waitlist.OfferAlreadyAccepted:
            raise _Refused(409, "done", shown) from None
        except waitlist.OfferExpired:
            raise _Refused(410, "expired", shown) from None
    except _Refused as refused:
        return _message(request, refused)
    t = TEXTS[shown.locale]
    context = {
        "locale": shown.locale,
        "t": t,
        "title": t["title"],
        "group": shown.offer.group_session_id is not None,  # a seat in a group session
        "site_name": shown.site_name,
        "when": shown.when(shown.offer.start),
        "minutes": int((shown.offer.end - shown.offer.start).total_seconds() // 60),
        "expires": shown.when(shown.offer.expires_at),
        "action": _PATH.format(offer_id=offer_id),
        "decline_action": _DECLINE.format(offer_id=offer_id),
        "token": token,
    }
    return templates.TemplateResponse(request, "offer.html", context, headers=_PRIVATE)


async def accept_from_form(
    request: Request, runtime: Runtime, offer_id: UUID, query_token: str
) -> HTMLResponse:
    """The page's button: book the offer (201 page) or say why not."""
    token = await _form_token(request, query_token)
    try:
        shown = await _open(runtime, offer_id, token)
        try:
            await execute(runtime, lambda uow: waitlist_app.accept_offer(uow, offer_id))
        except waitlist.OfferAlreadyAccepted:
            raise _Refused(409, "done", shown) from None
        except (waitlist.OfferExpired, SiteClosed, NotAllowedNow):
            # Closed since the offer was made, or the group session cancelled or moved: the
            # time is no longer held for the client (the JSON route answers 409).
            raise _Refused(410, "expired", shown) from None
        except UnknownAggregate:
            raise _Refused(404, "invalid") from None
    except _Refused as refused:
        return _message(request, refused)
    return _message(request, _Refused(201, "booked", shown))


async def _form_token(request: Request, query_token: str) -> str:
    sent = (await request.form()).get("token")
    return sent if isinstance(sent, str) and sent else query_token


async def decline_from_form(
    request: Request, runtime: Runtime, offer_id: UUID, query_token: str
) -> HTMLResponse:
    """The page's "No, thank you": the slot goes to the next client now; the page says so and
    offers to leave the waiting list altogether."""
    token = await _form_token(request, query_token)
    policy = offer_policy(runtime)
    try:
        shown = await _open(runtime, offer_id, token)
        try:
            await execute(runtime, lambda uow: waitlist_app.decline_offer(uow, offer_id, policy))
        except waitlist.OfferAlreadyAccepted:
            raise _Refused(409, "done", shown) from None
        except waitlist.OfferExpired:
            raise _Refused(410, "expired", shown) from None
    except _Refused as refused:
        return _message(request, refused)
    t = TEXTS[shown.locale]
    leave = _Button(_LEAVE.format(offer_id=offer_id), token, t["leave"])
    return _message(request, _Refused(200, "declined", shown, leave))


async def leave_from_form(
    request: Request, runtime: Runtime, offer_id: UUID, query_token: str
) -> HTMLResponse:
    """The declined page's "Take me off the waiting list"."""
    token = await _form_token(request, query_token)
    policy = offer_policy(runtime)
    try:
        shown = await _open(runtime, offer_id, token)
        try:
            await execute(runtime, lambda uow: waitlist_app.withdraw_by_link(uow, offer_id, policy))
        except waitlist.EntryNotWaiting:
            raise _Refused(409, "not_waiting", shown) from None
    except _Refused as refused:
        return _message(request, refused)
    return _message(request, _Refused(200, "left", shown))


async def _open(runtime: Runtime, offer_id: UUID, token: str) -> _Shown:
    """Check the link (the JSON route's check) and load what the page shows."""
    if len(token) > _MAX_TOKEN:
        audit.note_invalid_link()
        raise _Refused(403, "invalid")
    try:
        verify_accept_link(runtime, offer_id, token)
    except LinkExpired as exc:
        if exc.link.subject != str(offer_id):
            audit.note_invalid_link()
            raise _Refused(403, "invalid") from None
        # Genuine but late: the page still speaks the client's language.
        audit.note_actor(audit.Actor("link", str(exc.link.link_id)), sees_free_text=False)
        raise _Refused(410, "expired", await _shown(runtime, offer_id)) from None
    except LinkTampered:
        raise _Refused(403, "invalid") from None
    shown = await _shown(runtime, offer_id)
    if shown is None:
        raise _Refused(404, "invalid")
    return shown


async def _shown(runtime: Runtime, offer_id: UUID) -> _Shown | None:
    async with runtime.db().acquire() as conn:
        offer = await waitlist_store.load_offer(conn, offer_id)
        if offer is None:
            return None
        client = await projections.load_client(conn, offer.client_id)
        site = await projections.load_site(conn, offer.site_id)
    assert site is not None
    audit.note_site(offer.site_id)
    audit.note_client(offer.client_id)
    zone = ZoneInfo(client.timezone if client is not None else site.timezone)
    locale = locale_of(client.locale if client is not None else None)
    return _Shown(offer, locale, site.name, zone)


def _message(request: Request, refused: _Refused) -> HTMLResponse:
    shown = refused.shown
    locale = shown.locale if shown else _browser_locale(request)
    t = TEXTS[locale]
    context: dict[str, Any] = {
        "locale": locale,
        "t": t,
        "title": t[f"{refused.key}_title"],
        "line": t[refused.key],
        "site_name": shown.site_name if shown else None,
        "when": shown.when(shown.offer.start)
        if shown and refused.status not in (410, 200)
        else None,
        "button": refused.button,
    }
    return templates.TemplateResponse(
        request, "message.html", context, status_code=refused.status, headers=_PRIVATE
    )


def _browser_locale(request: Request) -> str:
    """Before the link is trusted: the browser's first language the page speaks."""
    return browser_language(request.headers.get("accept-language", ""), TEXTS)
