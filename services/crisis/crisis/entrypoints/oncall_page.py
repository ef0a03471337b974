"""The on-call page: server-rendered HTML opened from a page's signed link (`ack_url`).

The signed token is the credential: it acts as the one staff member the page was sent to. Every
use (a view, an acknowledgement, an escalation, a resolution, a PIN try, a refused or expired
link) leaves an audit entry through the audit middleware: the actor is the link
(`link:<link_id>`), acting for the staff member. Forms are plain HTML posts, so everything works
without JavaScript. The page never reloads itself (a reload would wipe a PIN being typed and
move a screen reader to the top): it says when it was last updated and offers a Reload link.
Errors are HTML pages too (`page_errors`), in the reader's language.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlsplit
from uuid import UUID, uuid4

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from counseling_shared import audit
from counseling_shared.codes import AlertOutcome
from counseling_shared.http.private_pages import page_headers
from counseling_shared.links import LinkExpired, LinkTampered
from counseling_shared.service import Runtime, runtime_of
from counseling_shared.unit_of_work import UnitOfWork, unit_of_work
from crisis.adapters import alert_views, schedules, site_closures, sites, staff, swaps
from crisis.adapters.booking_directory import ClientContact, ContactUnavailable, client_contact
from crisis.application import alerts, people
from crisis.application import swaps as swap_commands
from crisis.application.page_links import PageLink, open_page_link
from crisis.application.pins import PinCheck, PinPolicy, PinTry, try_pin, use_pin
from crisis.application.swaps import SwapNotFound
from crisis.domain.alert import (
    AlertResolved,
    AlreadyAcknowledged,
    AlreadyEscalated,
    NothingToEscalate,
    NotPaged,
)
from crisis.domain.durations import parse_duration
from crisis.domain.escalation import Step
from crisis.domain.policy import MAX_LEVELS, MAX_REPEAT
from crisis.domain.schedules.overrides import InvalidOverride
from crisis.domain.schedules.swaps import (
    TAKER_ON_CALL_IN_POLICY,
    NotOffered,
    SwapConflict,
    TakerOnCall,
)
from crisis.domain.site_closures import closed_during
from crisis.entrypoints.page_errors import (
    not_valid_page,
    problem_page,
    reader_language,
    templates,
)
from crisis.entrypoints.page_i18n import (
    Translate,
    day_formatter,
    language_of,
    time_formatter,
    translator,
    when_formatter,
)
from crisis.entrypoints.page_view import (
    CLOSURE_KIND_TEXT,
    Notice,
    PageView,
    short_id,
    staff_ids_in,
)
from crisis.entrypoints.paging import paging_for
from crisis.settings import CrisisSettings

# HTML, not the JSON API: left out of the OpenAPI document (docs/contract.md lists them).
router = APIRouter(include_in_schema=False)
NoticeSpec = tuple[str, str, dict[str, Any]]  # msgid, tone, what fills it
Token = Annotated[str, Form(max_length=2000)]


def _settings(runtime: Runtime) -> CrisisSettings:
    settings = runtime.settings
    assert isinstance(settings, CrisisSettings)
    return settings


@router.get("/pages/{page_id}", response_class=HTMLResponse)
async def oncall_page(page_id: UUID, token: str, request: Request) -> HTMLResponse:
    """The alert as the paged staff member sees it."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        link = await _open(uow, runtime, token, page_id, request)
        if isinstance(link, HTMLResponse):
            return link
        return await _render(request, uow, link, token)


@router.post("/pages/{page_id}/ack", response_class=HTMLResponse)
async def acknowledge_by_link(page_id: UUID, token: Token, request: Request) -> HTMLResponse:
    """Acknowledge as the link's staff member: 200; 409 (saying who and when) once anyone has."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        link = await _open(uow, runtime, token, page_id, request)
        if isinstance(link, HTMLResponse):
            return link
        before = await alert_views.alert_view(uow.conn, link.alert_id)
        assert before is not None
        if before["status"] == "open":
            await alerts.acknowledge(
                uow, link.alert_id, link.staff_id, paging_for(_settings(runtime))
            )
        after = await alert_views.alert_view(uow.conn, link.alert_id)
        assert after is not None
        mine = before["status"] == "open" and after["acknowledged_by"] == link.staff_id
        if mine:
            notice: NoticeSpec = (
                "You acknowledged this alert; escalation has stopped.",
                "good",
                {},
            )
            return await _render(request, uow, link, token, notice=notice)
        if after["status"] == "resolved" and after["acknowledged_at"] is None:
            notice = ("This alert is already resolved.", "bad", {})
        elif after["acknowledged_by"] == link.staff_id:
            # A second tap (or a reload) of one's own acknowledgement: still a 409, but nothing
            # went wrong.
            notice = ("You acknowledged this at %(when)s.", "good", {"ack": True})
        else:
            notice = ("Already acknowledged by %(who)s at %(when)s.", "bad", {"ack": True})
        return await _render(request, uow, link, token, notice=notice, status=409)


Level = Annotated[int, Form(ge=1, le=MAX_LEVELS)]  # the step the page showed
Cycle = Annotated[int, Form(ge=0, le=MAX_REPEAT)]


@router.post("/pages/{page_id}/escalate", response_class=HTMLResponse)
async def escalate_by_link(
    page_id: UUID, token: Token, level: Level, cycle: Cycle, request: Request
) -> HTMLResponse:
    """Escalate now as the link's staff member, from the step the page showed (`level`,
    `cycle`): 200; 409 once the alert moved past it (a second tap, the deadline passed), or
    when it is acknowledged, resolved or out of levels (as acknowledging answers)."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        link = await _open(uow, runtime, token, page_id, request)
        if isinstance(link, HTMLResponse):
            return link
        notice: NoticeSpec
        try:
            after = await alerts.escalate_now(
                uow,
                link.alert_id,
                link.staff_id,
                paging_for(_settings(runtime)),
                Step(cycle, level),
            )
        except AlreadyEscalated as moved:
            now_level = moved.step.level if moved.step else 0
            notice = (
                "This alert has already moved on: level %(level)s is paged.",
                "plain",
                {"values": {"level": now_level}},
            )
        except AlreadyAcknowledged:
            notice = ("Already acknowledged by %(who)s at %(when)s.", "bad", {"ack": True})
        except AlertResolved:
            notice = ("This alert is already resolved.", "bad", {})
        except NothingToEscalate:
            notice = ("There is no further level to page.", "bad", {})
        except NotPaged:  # a link is its page's: only a page of another deployment's alert
            notice = ("Only a staff member paged for this alert can escalate it.", "bad", {})
            return await _render(request, uow, link, token, notice=notice, status=403)
        else:
            if after.exhausted:
                notice = (
                    "You escalated this alert: every level has been paged; the fallback staff,"
                    " if any, are paged now.",
                    "good",
                    {},
                )
            else:
                notice = (
                    "You escalated this alert: level %(level)s is paged now.",
                    "good",
                    {"values": {"level": after.current_level}},
                )
            return await _render(request, uow, link, token, notice=notice)
        return await _render(request, uow, link, token, notice=notice, status=409)


@router.post("/pages/{page_id}/resolve", response_class=HTMLResponse)
async def resolve_by_link(
    page_id: UUID, token: Token, outcome: Annotated[str, Form(max_length=40)], request: Request
) -> HTMLResponse:
    """Resolve with an outcome as the link's staff member: 200; 409 when already resolved."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        link = await _open(uow, runtime, token, page_id, request)
        if isinstance(link, HTMLResponse):
            return link
        try:
            chosen = AlertOutcome(outcome)
        except ValueError:
            unknown: NoticeSpec = ("Choose an outcome from the list.", "bad", {})
            return await _render(request, uow, link, token, notice=unknown, status=422)
        try:
            await alerts.resolve(
                uow, link.alert_id, link.staff_id, chosen, paging_for(_settings(runtime))
            )
        except AlertResolved:
            resolved: NoticeSpec = ("This alert is already resolved.", "bad", {})
            return await _render(request, uow, link, token, notice=resolved, status=409)
        return await _render(
            request, uow, link, token, notice=("You resolved this alert.", "good", {})
        )


@router.post("/pages/{page_id}/swaps/{swap_request_id}/take", response_class=HTMLResponse)
async def take_swap_by_link(
    page_id: UUID, swap_request_id: UUID, token: Token, request: Request
) -> HTMLResponse:
    """Take a shift a colleague offered the link's staff member (extension; the page lists
    the open ones): 200, the schedule shows them on call for it; 409 once someone else took
    it or it was withdrawn or began; 403 when it was not offered to them."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        link = await _open(uow, runtime, token, page_id, request)
        if isinstance(link, HTMLResponse):
            return link
        notice: NoticeSpec
        status = 409
        try:
            await swap_commands.take_swap(
                uow,
                swap_request_id,
                link.staff_id,
                uuid4(),
                require_known_staff=_settings(runtime).require_known_staff,
            )
        except (SwapNotFound, NotOffered):
            notice, status = ("This shift was not offered to you.", "bad", {}), 403
        except TakerOnCall as refusal:
            notice = await _on_call_notice(uow, refusal)
        except (SwapConflict, InvalidOverride):
            notice = await _not_taken_notice(uow, swap_request_id, link.staff_id)
        else:
            notice = await _taken_notice(uow, swap_request_id)
            status = 200
        return await _render(request, uow, link, token, notice=notice, status=status)


async def _on_call_notice(uow: UnitOfWork, refusal: TakerOnCall) -> NoticeSpec:
    """Why a taker already on call cannot take it: on this schedule, or on another schedule
    (named) of the same escalation policy, or at a level of it naming them, where they would be
    paged twice."""
    if refusal.reason == TAKER_ON_CALL_IN_POLICY and refusal.level is not None:
        return (
            "You are paged at level %(level)s of an escalation policy that also pages this"
            " schedule: you would be paged twice and one person fewer would be paged. Another"
            " colleague may take it.",
            "bad",
            {"values": {"level": str(refusal.level)}},
        )
    if refusal.reason != TAKER_ON_CALL_IN_POLICY or refusal.schedule_id is None:
        return (
            "You are already on call for part of this shift: taking it would leave one"
            " person on call where there were two. Another colleague may take it.",
            "bad",
            {},
        )
    other = await schedules.state_of(uow.conn, refusal.schedule_id)
    name = other.state.schedule.name if other else str(refusal.schedule_id)[:8]
    return (
        "You are already on call for part of this shift on the schedule %(schedule)s of the"
        " same escalation policy: you would be paged twice and one person fewer would be"
        " paged. Another colleague may take it.",
        "bad",
        {"values": {"schedule": name}},
    )


_TAKEN = "You took the shift from %(start)s to %(end)s; the schedule shows you on call."


async def _taken_notice(uow: UnitOfWork, swap_request_id: UUID) -> NoticeSpec:
    """Says which shift: once taken it leaves the list, and several may have been offered."""
    stored = await swaps.get(uow.conn, swap_request_id)
    assert stored is not None  # just taken
    return (_TAKEN, "good", {"shift": (stored.request.start, stored.request.end)})


async def _not_taken_notice(uow: UnitOfWork, swap_request_id: UUID, staff_id: UUID) -> NoticeSpec:
    """Why a take did nothing. A second tap (a double click, a reload) of one's own take is
    still a 409, but must not say a colleague took it: the taker would think they are not on
    call when the schedule pages them."""
    stored = await swaps.get(uow.conn, swap_request_id)
    if stored is not None and stored.request.taken_by == staff_id:
        return (_TAKEN, "good", {"shift": (stored.request.start, stored.request.end)})
    return ("This shift is no longer open: a colleague took it, or it was withdrawn.", "bad", {})


_PIN_REFUSALS = {
    PinCheck.WRONG: ("Wrong PIN.", 403),
    PinCheck.NOT_SET: ("No PIN is set for you; ask an administrator.", 403),
    PinCheck.LOCKED: ("Too many wrong PINs; try again later.", 429),
}


class _PinConfirmed(Exception):
    """Leaves the PIN check's transaction with nothing committed (no entry either): what the
    right PIN is used for is recorded, with its entry, once booking has answered."""

    def __init__(self, link: PageLink, tried: PinTry) -> None:
        super().__init__("PIN confirmed")
        self.link = link
        self.tried = tried


@router.post("/pages/{page_id}/contact", response_class=HTMLResponse)
async def contact_by_link(
    page_id: UUID, token: Token, pin: Annotated[str, Form(max_length=40)], request: Request
) -> HTMLResponse:
    """The client's contact details, fetched from booking now, once the PIN is confirmed.
    403 for a wrong (or unset) PIN, 429 while locked, 503 when booking cannot answer."""
    runtime = runtime_of(request)
    settings = _settings(runtime)
    policy = PinPolicy(settings.pin_max_attempts, parse_duration(settings.pin_lockout))
    try:
        async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
            link = await _open(uow, runtime, token, page_id, request)
            if isinstance(link, HTMLResponse):
                return link
            audit.note_client(link.client_id)
            tried = await try_pin(uow, link.staff_id, pin, policy)
            if tried.check is PinCheck.CONFIRMED:
                raise _PinConfirmed(link, tried)
            # A wrong try (or a lock) commits with its entry, as any change does.
            return await _pin_refused(request, uow, link, token, tried.check)
    except _PinConfirmed as confirmed:
        link, tried = confirmed.link, confirmed.tried
    # booking is asked outside any transaction, so a slow directory holds no database
    # connection (nor the PIN's row lock).
    contact: ClientContact | None = None
    message, status = None, 200
    try:
        contact = await client_contact(
            runtime.nats(), link.client_id, link.site_id, settings.directory_timeout
        )
    except ContactUnavailable:
        message = "The contact details could not be fetched right now; try again."
        status = 503
    # The PIN's use (its count reset) and its audit entry, with the status answered, commit
    # together before the details are sent: an entry that cannot be written is the 503 page,
    # with nothing recorded and nothing shown.
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        assert tried.matched is not None
        used = await use_pin(uow, link.staff_id, tried.matched, tried.counted)
        if used is not PinCheck.CONFIRMED:  # replaced or locked while booking was asked
            return await _pin_refused(request, uow, link, token, used)
        return await _render(
            request, uow, link, token, pin_message=message, contact=contact, status=status
        )


async def _pin_refused(
    request: Request, uow: UnitOfWork, link: PageLink, token: str, check: PinCheck
) -> HTMLResponse:
    message, status = _PIN_REFUSALS[check]
    return await _render(request, uow, link, token, pin_message=message, status=status)


async def _open(
    uow: UnitOfWork, runtime: Runtime, token: str, page_id: UUID, request: Request
) -> PageLink | HTMLResponse:
    """The link, noted as the request's actor; or the 403/410 page (also audited)."""
    signer = _settings(runtime).link_signer()
    try:
        link = await open_page_link(uow.conn, signer, token, page_id, uow.now())
    except LinkExpired as exc:
        audit.note_actor(audit.Actor("link", str(exc.link.link_id)))
        page = await _expired_page(uow, exc.link.subject, exc.link.person)
        if page is not None:
            audit.act_for(page["staff_id"])
            audit.note_site(page["site_id"])
        lang = await _language(uow, exc.link.person)
        _ = translator(lang)
        return problem_page(
            lang,
            _("Link expired"),
            _("This link has expired. Open the alert from a newer page or ask a colleague."),
            410,
        )
    except LinkTampered:
        audit.note_invalid_link()
        # Whose link it was is not known: the browser's language.
        return not_valid_page(reader_language(request))
    audit.note_actor(audit.Actor("link", str(link.link_id)))
    audit.act_for(link.staff_id)
    audit.note_site(link.site_id)
    if not await people.may_act_on(uow.conn, link.staff_id, link.site_id, link.alert_id):
        return not_valid_page(await _language(uow, str(link.staff_id)))
    return link


async def _expired_page(uow: Any, page_id: str, person: str | None) -> dict[str, Any] | None:
    """The page a genuine but expired link was for, to audit whose it was."""
    try:
        page = await alert_views.page_of(uow.conn, UUID(page_id))
    except ValueError:
        return None
    return page if page is not None and str(page["staff_id"]) == person else None


async def _language(uow: Any, staff_id: str | None) -> str:
    if staff_id is None:
        return "en"
    try:
        return language_of(await staff.locale_of(uow.conn, UUID(staff_id)))
    except ValueError:
        return "en"


async def _render(
    request: Request,
    uow: Any,
    link: PageLink,
    token: str,
    *,
    notice: NoticeSpec | None = None,
    pin_message: str | None = None,
    contact: ClientContact | None = None,
    status: int = 200,
) -> HTMLResponse:
    runtime = runtime_of(request)
    view = await alert_views.alert_view(uow.conn, link.alert_id)
    assert view is not None
    lang = language_of(await staff.locale_of(uow.conn, link.staff_id))
    _ = translator(lang)
    # Times in the reader's own site's zone: a backup of another site reads their own hours.
    home = await staff.site_of(uow.conn, link.staff_id)
    zone = await sites.timezone_of(uow.conn, home) if home else None
    zone = zone or await sites.timezone_of(uow.conn, link.site_id)
    when = when_formatter(lang, zone)
    names = await staff.names_of(uow.conn, [link.staff_id, *staff_ids_in(view)])
    page = PageView(view, link.staff_id, _, when, names)
    shown_notice = None
    if notice is not None:
        text, tone, extra = notice
        if extra.get("ack"):
            shown = _(
                text, who=page.who(view["acknowledged_by"]), when=when(view["acknowledged_at"])
            )
        elif "shift" in extra:
            start, end = extra["shift"]
            shown = _(text, start=when(start), end=when(end))
        else:
            shown = _(text, **extra.get("values", {}))
        shown_notice = Notice(shown, tone)
    base = urlsplit(_settings(runtime).alert_base_url).path.rstrip("/") + f"/pages/{link.page_id}"
    self_url = f"{base}?token={quote(token, safe='')}"
    context = {
        "lang": lang,
        "_": _,
        "alert": page.alert(),
        "pages": page.pages(),
        "timeline": page.timeline(),
        "outcomes": page.outcomes(),
        "notice": shown_notice,
        "token": token,
        "me": page.who(link.staff_id),
        "can_acknowledge": view["status"] == "open",
        # Escalating needs a further level: a policy (level > 0), not yet exhausted.
        "can_escalate": view["status"] == "open"
        and not view["exhausted"]
        and view["current_level"] > 0,
        "step": {"level": view["current_level"], "cycle": view["cycle"]},
        "can_resolve": view["status"] != "resolved",
        "actions": view["status"] != "resolved",
        "show_contact_section": view["status"] != "resolved" or contact is not None,
        "contact": contact,
        "pin_message": _(pin_message) if pin_message else None,
        "updated_text": time_formatter(lang, zone)(uow.now()),
        "reload_url": self_url,
        "channel_text": page.channel_text,
        "urls": {
            "ack": f"{base}/ack",
            "escalate": f"{base}/escalate",
            "resolve": f"{base}/resolve",
            "contact": f"{base}/contact",
        },
    }
    context["swap_offers"] = await _swap_offers(uow, link, base, when, _, lang)
    body = templates.get_template("oncall_page.html").render(context)
    audit.note_answer(status)  # built inside a unit of work: its entry records this status
    return HTMLResponse(body, status_code=status, headers=page_headers())


async def _swap_offers(
    uow: Any,
    link: PageLink,
    base: str,
    when: Callable[[datetime | None], str],
    _: Translate,
    lang: str,
) -> list[dict[str, str]]:
    """The shifts colleagues offered the link's staff member, still open (extension), each
    with the closed days of its site it falls on (in the site's zone; unknown: its schedule's)."""
    offered = await swaps.open_offered_to(uow.conn, link.staff_id, uow.now())
    names = await staff.names_of(uow.conn, [s.request.requester_id for s in offered])
    day_of = day_formatter(lang)
    out = []
    for s in offered:
        request = s.request
        closed_text = ""
        stored = await schedules.state_of(uow.conn, request.schedule_id)
        closures = await site_closures.closures_of(uow.conn, request.site_id)
        if stored is not None and closures:
            schedule = stored.state.schedule
            zone = schedule.closed_days.zone or schedule.zone
            days = closed_during(closures, zone, request.start, request.end)
            if days:
                closed_text = _(
                    "On a day the site is closed: %(days)s",
                    days=", ".join(
                        f"{day_of(day)} ({_(CLOSURE_KIND_TEXT.get(c.kind, c.kind))})"
                        for day, c in days
                    ),
                )
        out.append(
            {
                "who": names.get(str(request.requester_id)) or short_id(request.requester_id),
                "start_text": when(request.start),
                "end_text": when(request.end),
                "closed_text": closed_text,
                "url": f"{base}/swaps/{request.swap_request_id}/take",
            }
        )
    return out
