"""The client's page for one appointment, opened from the signed `manage_url` in a reminder.

Server-rendered HTML in the client's language and zone, without JavaScript, like the waitlist
offer page. `GET …/manage` shows the site and the time with two actions: Confirm (a form post,
`AppointmentConfirmed`, idempotent) and Cancel, which only opens a second page
(`GET …/manage/cancel`) saying whether cancelling now is late and what fee the site charges;
its own button (`POST …/manage/cancel`) cancels as the client, with the same rules as any
client cancellation (the freed slot goes to the waitlist). If the late window closed between
that page and the press, or the site's fee changed, the page is shown again with the terms
of now instead of cancelling: the form carries what it showed (`shown_late`, `shown_fee`), the
client's consent, compared with `charges_unannounced` as a second X by text is (not signed:
the link authorises the action; an altered fee can only make the POST show the real one).
Cancelled before: 409; started, completed or missed, or the link expired or replaced by a
reschedule's: 410; an altered link: 403. No client name: the site and the time only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from babel.numbers import format_currency
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from booking.adapters import projections, scheduling_store, series_store
from booking.application import handlers
from booking.application.manage_links import MANAGE_PURPOSE, for_this_start
from booking.application.ports import EverySite
from booking.domain import appointment as appointments
from booking.domain.appointment import Appointment
from booking.domain.client_reschedule import NotMovable, why_not_movable
from booking.domain.errors import NotAllowedNow
from booking.domain.manage import (
    Announced,
    CancellationTerms,
    FeeNotAnnounced,
    Manageable,
    as_announced,
    cancellation_terms,
    charges_unannounced,
    manageable,
)
from booking.domain.scheduling.rules import DEFAULT_CLIENT_RESCHEDULE_DAYS, Fee
from booking.entrypoints.http.deps import execute
from booking.entrypoints.policies import booking_settings, offer_policy
from booking.entrypoints.web.texts import MANAGE_TEXTS, locale_of, when_label
from counseling_shared import audit
from counseling_shared.codes import CancelledBy
from counseling_shared.http.languages import browser_language
from counseling_shared.http.private_pages import PRIVATE_PAGE_HEADERS
from counseling_shared.links import LinkExpired, LinkTampered
from counseling_shared.service import Runtime, runtime_of

router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
_PATH = "/appointments/{appointment_id}/manage"
_MAX_TOKEN = 1000
_MAX_SHOWN_FEE = 40  # "<amount> <currency>" as the page wrote it
# Stays in booking's database (never on the bus): why the appointment was cancelled.
_REASON = "cancelled by the client from the link in their reminder"


@dataclass(frozen=True)
class _Shown:
    """The appointment as the page shows it, in the client's words and zone."""

    appointment: Appointment
    locale: str
    site_name: str
    zone: ZoneInfo
    terms: CancellationTerms  # of a cancellation at `now`
    now: datetime
    late_window: timedelta
    move: NotMovable | None  # None: the client may pick another time (`client_reschedule`)
    move_days: int = DEFAULT_CLIENT_RESCHEDULE_DAYS  # how far ahead the new time may be

    def when(self, at: datetime) -> str:
        return when_label(at, self.zone, self.locale)

    def fee(self) -> str | None:
        fee = self.terms.fee
        if fee is None:
            return None
        return format_currency(Decimal(fee.amount), fee.currency, locale=self.locale)


class _Refused(Exception):
    """Answer with a message page instead."""

    def __init__(self, status: int, key: str, shown: _Shown | None = None) -> None:
        super().__init__(key)
        self.status, self.key, self.shown = status, key, shown


def _page(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: _page("An altered link: a page saying so."),
    404: _page("No such appointment: a page saying so."),
    409: _page("Cancelled before: a page saying so."),
    410: _page("Started, completed or missed; or the link expired or was replaced."),
}
_HTML: dict[str, Any] = {
    "response_class": HTMLResponse,
    "tags": ["appointments"],
    "openapi_extra": {"security": []},  # the signed token is the credential
}


@router.get(
    _PATH,
    summary="The client's page of an appointment: confirm or cancel (HTML)",
    responses={200: {"description": "The appointment with Confirm and Cancel."}, **_REFUSALS},
    **_HTML,
)
async def show(appointment_id: UUID, request: Request, token: str = "") -> HTMLResponse:
    """Extension: the page the reminder's `manage_url` opens."""
    runtime = runtime_of(request)
    try:
        shown = await _open_manageable(runtime, appointment_id, token)
    except _Refused as refused:
        return _message(request, refused)
    return _render(request, "manage.html", shown, token, 200)


@router.post(
    f"{_PATH}/confirm",
    summary="The client confirms the appointment (HTML form post)",
    responses={200: {"description": "Confirmed (also when confirmed before)."}, **_REFUSALS},
    **_HTML,
)
async def confirm(appointment_id: UUID, request: Request) -> HTMLResponse:
    """Extension: records `AppointmentConfirmed` once; pressing again changes nothing."""
    runtime = runtime_of(request)
    try:
        token = await _form_token(request)
        shown = await _open_manageable(runtime, appointment_id, token)
        try:
            await execute(
                runtime,
                lambda uow: handlers.confirm_appointment(uow, appointment_id, EverySite()),
            )
        except NotAllowedNow:
            raise _refused_now(await _reload(runtime, shown)) from None
    except _Refused as refused:
        return _message(request, refused)
    return _message(request, _Refused(200, "confirmed", shown))


@router.get(
    f"{_PATH}/cancel",
    summary="The second step of a cancellation: the terms, then Cancel (HTML)",
    responses={200: {"description": "Whether it is late, the fee, and the button."}, **_REFUSALS},
    **_HTML,
)
async def ask_cancel(appointment_id: UUID, request: Request, token: str = "") -> HTMLResponse:
    """Extension: says whether cancelling now is late and what it costs, before it is done."""
    runtime = runtime_of(request)
    try:
        shown = await _open_manageable(runtime, appointment_id, token)
    except _Refused as refused:
        return _message(request, refused)
    return _render(request, "manage_cancel.html", shown, token, 200)


@router.post(
    f"{_PATH}/cancel",
    summary="The client cancels the appointment (HTML form post)",
    responses={
        200: {"description": "Cancelled: a page with the fee, if any."},
        **_REFUSALS,
        409: _page("Cancelled before; or late or another fee since the terms were shown (again)."),
    },
    **_HTML,
)
async def cancel(appointment_id: UUID, request: Request) -> HTMLResponse:
    """Extension: the normal client cancellation (late inside the site's window, with its fee);
    the freed slot is offered to the waitlist."""
    runtime = runtime_of(request)
    form = await request.form()
    announced = _announced(form.get("shown_late"), form.get("shown_fee"))
    try:
        token = await _form_token(request)
        shown = await _open_manageable(runtime, appointment_id, token)
        if charges_unannounced(shown.terms.late, shown.terms.fee, announced):
            return _terms_again(request, shown, token, announced)
        command = appointments.CancelAppointment(_REASON, CancelledBy.CLIENT)
        on_freed = offer_policy(runtime).on_freed()
        vet = as_announced(announced)  # the window or the fee changed since the check above
        try:
            await execute(
                runtime,
                lambda uow: handlers.cancel_appointment(
                    uow, appointment_id, command, EverySite(), on_freed, vet
                ),
            )
        except NotAllowedNow:
            raise _refused_now(await _reload(runtime, shown)) from None
        except FeeNotAnnounced:
            again = await _open_manageable(runtime, appointment_id, token)
            return _terms_again(request, again, token, announced)
        cancelled = await _reload(runtime, shown)
    except _Refused as refused:
        return _message(request, refused)
    return _message(request, _Refused(200, "cancelled", cancelled), fee=cancelled.fee())


def _announced(shown_late: object, shown_fee: object) -> Announced | None:
    """The terms the cancel step showed, as its form sent them back: late (`shown_late` 1)
    with `shown_fee` ("<amount> <currency>"; empty: none). A fee missing or not readable
    (a page from before the field, an altered form) counts as none announced, so a late
    cancellation with a fee is shown again, never charged."""
    if shown_late != "1":
        return None
    return Announced(_fee_of(shown_fee))


def _fee_of(sent: object) -> Fee | None:
    if not isinstance(sent, str) or not sent or len(sent) > _MAX_SHOWN_FEE:
        return None
    amount, _, currency = sent.partition(" ")
    try:
        value = Decimal(amount)
    except ArithmeticError:
        return None
    return Fee(value, currency) if value.is_finite() and currency else None


def _terms_again(
    request: Request, shown: _Shown, token: str, announced: Announced | None
) -> HTMLResponse:
    """The cancel step again with the terms of now (409), nothing done: the window closed
    since it was shown, or (shown late) the site's fee changed."""
    changed = "fee_changed" if announced is not None else "terms_changed"
    return _render(request, "manage_cancel.html", shown, token, 409, changed=changed)


async def _form_token(request: Request) -> str:
    sent = (await request.form()).get("token")
    return sent if isinstance(sent, str) else ""


async def _open_manageable(runtime: Runtime, appointment_id: UUID, token: str) -> _Shown:
    """Check the link, load the appointment, and refuse one there is nothing left to do on."""
    shown = await _open(runtime, appointment_id, token)
    status, key, _ = _refusal(shown)
    if status != 200:
        raise _Refused(status, key, shown)
    return shown


def _refusal(shown: _Shown) -> tuple[int, str, _Shown]:
    state = manageable(shown.appointment, shown.now)
    if state is Manageable.CANCELLED:
        return 409, "was_cancelled", shown
    if state is Manageable.OVER:
        return 410, "over", shown
    return 200, "open", shown


def _refused_now(shown: _Shown) -> _Refused:
    """A command refused because the appointment changed since it was loaded."""
    status, key, _ = _refusal(shown)
    return _Refused(status, key, shown) if status != 200 else _Refused(409, "was_cancelled", shown)


async def _open(runtime: Runtime, appointment_id: UUID, token: str) -> _Shown:
    if len(token) > _MAX_TOKEN:
        audit.note_invalid_link()
        raise _Refused(403, "invalid")
    signer = booking_settings(runtime).link_signer()
    try:
        link = signer.verify(token, MANAGE_PURPOSE, now=runtime.clock.now())
    except LinkExpired as exc:
        if exc.link.subject != str(appointment_id):
            audit.note_invalid_link()
            raise _Refused(403, "invalid") from None
        # Genuine but past the start it was minted for: the page still speaks the client's
        # language, and says so if the appointment moved rather than began.
        audit.note_actor(audit.Actor("link", str(exc.link.link_id)), sees_free_text=False)
        late = await _load(runtime, appointment_id)
        moved = late is not None and not for_this_start(exc.link, late.appointment)
        raise _Refused(410, "replaced" if moved else "over", late) from None
    except LinkTampered:
        audit.note_invalid_link()  # audited as crisis audits its page links' (no token kept)
        raise _Refused(403, "invalid") from None
    if link.subject != str(appointment_id):
        audit.note_invalid_link()
        raise _Refused(403, "invalid")
    audit.note_actor(audit.Actor("link", str(link.link_id)), sees_free_text=False)
    shown = await _load(runtime, appointment_id)
    if shown is None:
        raise _Refused(404, "invalid")
    if not for_this_start(link, shown.appointment):
        raise _Refused(410, "replaced", shown)  # rescheduled: a newer link was sent
    return shown


async def _load(runtime: Runtime, appointment_id: UUID) -> _Shown | None:
    async with runtime.db().acquire() as conn:
        found = await projections.load_appointment(conn, appointment_id)
        if found is None:
            return None
        client = await projections.load_client(conn, found.client_id)
        site = await projections.load_site(conn, found.site_id)
        rules = await scheduling_store.load_rules(conn, found.site_id)
        in_series = await series_store.is_series_occurrence(conn, found.id)
    assert site is not None  # an appointment's site always exists
    audit.note_site(found.site_id)
    audit.note_client(found.client_id)
    now = runtime.clock.now()
    fee = rules.missed_session_fee if rules else None
    terms = cancellation_terms(found, site.late_window, fee, now)
    zone = ZoneInfo(client.timezone if client is not None else site.timezone)
    locale = locale_of(client.locale if client is not None else None)
    move = why_not_movable(found, rules, site.late_window, now, in_series=in_series)
    days = rules.client_reschedule_days if rules else DEFAULT_CLIENT_RESCHEDULE_DAYS
    return _Shown(found, locale, site.name, zone, terms, now, site.late_window, move, days)


async def _reload(runtime: Runtime, shown: _Shown) -> _Shown:
    """After a command: the appointment as it is now, the fee as it was recorded."""
    again = await _load(runtime, shown.appointment.id)
    assert again is not None
    recorded = again.appointment.fee_due
    return _Shown(
        again.appointment,
        again.locale,
        again.site_name,
        again.zone,
        CancellationTerms(shown.terms.late, recorded, shown.terms.late_from),
        again.now,
        again.late_window,
        again.move,
        again.move_days,
    )


def _render(
    request: Request,
    name: str,
    shown: _Shown,
    token: str,
    status: int,
    *,
    changed: str = "",
    extra: dict[str, Any] | None = None,
) -> HTMLResponse:
    """`changed`: the text key saying why the terms are shown again (empty: shown first)."""
    t = MANAGE_TEXTS[shown.locale]
    base = _PATH.format(appointment_id=shown.appointment.id)
    confirmed_at = shown.appointment.confirmed_at
    context = {
        "locale": shown.locale,
        "t": t,
        "title": t["title"],
        "site_name": shown.site_name,
        "when": shown.when(shown.appointment.start),
        "minutes": shown.appointment.slot.minutes,
        "confirmed": shown.when(confirmed_at) if confirmed_at else None,
        "late": shown.terms.late,
        "fee": shown.fee(),
        "shown_fee": _form_fee(shown.terms.fee),
        "late_from": shown.when(shown.terms.late_from),
        "changed": changed,
        "confirm_action": f"{base}/confirm",
        "cancel_page": f"{base}/cancel",
        "cancel_action": f"{base}/cancel",
        "move": shown.move,
        "move_page": f"{base}/reschedule",
        "token": token,
        **(extra or {}),
    }
    return templates.TemplateResponse(
        request, name, context, status_code=status, headers=PRIVATE_PAGE_HEADERS
    )


def _form_fee(fee: Fee | None) -> str:
    """The fee as the cancel step's form sends it back (see `_fee_of`)."""
    return f"{fee.amount} {fee.currency}" if fee is not None else ""


def _message(
    request: Request, refused: _Refused, *, fee: str | None = None, when: str | None = None
) -> HTMLResponse:
    """`when`: the time shown (default: the appointment's start as loaded)."""
    shown = refused.shown
    locale = shown.locale if shown else _browser_locale(request)
    t = MANAGE_TEXTS[locale]
    context: dict[str, Any] = {
        "locale": locale,
        "t": t,
        "title": t[f"{refused.key}_title"],
        "line": t[refused.key],
        "fee_line": t["fee_charged"].replace("{fee}", fee) if fee else None,
        "site_name": shown.site_name if shown else None,
        "when": when or (shown.when(shown.appointment.start) if shown else None),
    }
    return templates.TemplateResponse(
        request,
        "message.html",
        context,
        status_code=refused.status,
        headers=PRIVATE_PAGE_HEADERS,
    )


def _browser_locale(request: Request) -> str:
    """Before the link is trusted: the browser's first language the page speaks."""
    return browser_language(request.headers.get("accept-language", ""), MANAGE_TEXTS)
